"""Suite-wide setup: offscreen Qt, a private image cache, and the tiers.

Tiers are markers given here, centrally, by where a test lives and what it uses, so a new test
lands in the right tier without a decorator (see the README's "Tests"):
- multiprocess: starts several training processes (torch.distributed, torchrun, the launcher)
- benchmark: runs a benchmark script's --smoke
- window: builds the studio's full main window
- slow: a test measured at several seconds on 2 cores (SLOW below; pytest --durations=15 shows new ones)
`bash scripts/test.sh --quick` leaves all four out; `bash scripts/test.sh` (what CI runs) runs everything.
"""

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest  # noqa: E402

TIERS = ("multiprocess", "benchmark", "window", "slow")

# by file (relative to tests/); a file whose name says "distributed", "processes" or "nodes" is multiprocess too
MULTIPROCESS_FILES = {"engines/test_gradient_seam.py"}
MULTIPROCESS_WORDS = ("distributed", "processes", "nodes")
WINDOW_FILES = {"test_launch.py", "test_desktop_entry.py"}  # start the real studio window
BENCHMARK_FILES = {"test_benchmarks.py", "engines/test_equal_time_benchmark.py",
                   "engines/test_benchmark_distributed.py"}
# Tests or whole files using 0.3 CPU seconds or more (measured with --cpu-durations, which counts this
# process's CPU time, so a busy machine does not skew it); `file::name` covers its parametrisations.
SLOW = {
    # whole files: most of their tests train, or share a trained run
    "engines/test_checkpoint_best.py",
    "engines/test_compare.py",
    "engines/test_crash_safety.py",
    "engines/test_cyclegan.py",
    "engines/test_diffusion_engine.py",
    "engines/test_evaluate.py",
    "engines/test_export.py",
    "engines/test_family_contract.py",
    "engines/test_first_stage_input.py",
    "engines/test_gan_diagnostics.py",
    "engines/test_gan_milestones.py",
    "engines/test_gan_milestones_cli.py",
    "engines/test_latent.py",
    "engines/test_ldm.py",
    "engines/test_network_export.py",
    "engines/test_overfitting.py",
    "engines/test_schedules_from_budget.py",
    "engines/test_style.py",
    "engines/test_style_family.py",
    "engines/test_tools.py",
    "engines/test_training_resume_cli.py",
    "engines/test_transformer.py",
    "engines/test_vae.py",
    # single tests
    "engines/test_capabilities.py::test_per_image_bits_per_dim_average_to_the_validation_figure",
    "engines/test_class_mixing.py::test_one_hot_weights_give_exactly_the_hard_label_images",
    "engines/test_cli.py::test_mistakes_around_an_existing_run_are_one_line_and_exit_code_2",
    "engines/test_cli.py::test_train_starts_from_the_family_recipe_for_training_settings_and_explicit_choices_win",
    "engines/test_diffusion_maths.py::test_samplers_land_on_the_data_with_an_exact_denoiser",
    "engines/test_disk_full_and_damage.py::test_resume_falls_back_to_the_newest_intact_checkpoint_with_a_warning",
    "engines/test_flow_matching.py::test_real_images_go_to_noise_and_back",
    "engines/test_flow_matching.py::test_stochastic_sampling_is_repeatable_and_noise_zero_is_the_ode",
    "engines/test_flows.py::test_encode_decode_reproduces_trained_images_exactly",
    "engines/test_gan.py::test_cli_trains_a_conditional_gan_on_subfolders_and_samples_a_label",
    "engines/test_names_fuzz.py::test_check_name_refuses_every_kind_of_path_in_one_line",
    "engines/test_pixelcnn.py::test_logits_depend_on_every_earlier_subpixel_and_nothing_else",
    "engines/test_quality.py::test_feature_space_learns_the_classes_and_counts_coverage",
    "engines/test_sample_schedule.py::test_clock_grids_come_early_and_leave_the_losses_alone",
    "engines/test_sampling_options.py::test_every_family_declares_its_sampling_options_as_a_typed_config",
    "engines/test_time_budget.py::test_compare_lines_runs_up_at_equal_time_and_at_equal_steps",
    "engines/test_training_device.py::test_cpu_trains_in_fp32_whatever_was_asked",
    "engines/test_training_loop.py::test_stop_then_resume_matches_an_uninterrupted_run",
    "engines/test_training_safety.py::test_the_person_can_roll_back_to_before_a_finding",
    "engines/test_training_safety.py::test_weights_that_turned_non_finite_are_never_checkpointed",
    "studio/test_dataset_panel.py::test_command_line_folders_are_loaded",
}

_window_modules: dict[str, bool] = {}


def _builds_main_window(path: Path) -> bool:
    key = str(path)
    if key not in _window_modules:
        try:
            _window_modules[key] = "MainWindow(" in path.read_text()
        except OSError:
            _window_modules[key] = False
    return _window_modules[key]


def tier_of(item) -> list[str]:
    root = Path(__file__).parent
    try:
        rel = Path(str(item.path)).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return []
    tiers = []
    if rel in MULTIPROCESS_FILES or any(w in Path(rel).name for w in MULTIPROCESS_WORDS):
        tiers.append("multiprocess")
    if rel in BENCHMARK_FILES:
        tiers.append("benchmark")
    if rel in WINDOW_FILES or rel.startswith("studio/") and (any(f.endswith("window") for f in getattr(item, "fixturenames", ()))
                                      or _builds_main_window(Path(str(item.path)))):
        tiers.append("window")
    name = f"{rel}::{item.name}"
    if any(name == s or name.startswith(s + "[") or (s.endswith(".py") and rel == s) for s in SLOW):
        tiers.append("slow")
    return tiers


# Run first: the tiers whose tests each take many seconds. Under pytest-xdist (scripts/test.sh runs two
# workers on two cores) a long test that starts last leaves the other worker idle until it ends.
LONG_FIRST = ("benchmark", "multiprocess")


def pytest_collection_modifyitems(config, items):
    tiers = {}
    for item in items:
        tiers[item.nodeid] = tier_of(item)
        for tier in tiers[item.nodeid]:
            item.add_marker(getattr(pytest.mark, tier))
    # a stable sort: the same order in every worker (xdist requires it), files kept together
    items.sort(key=lambda item: not any(t in LONG_FIRST for t in tiers[item.nodeid]))


@pytest.fixture(autouse=True)
def _private_image_cache(tmp_path_factory, monkeypatch):
    """Ingestion caches decoded images; tests keep theirs out of the user's cache directory."""
    if "GENSTUDIO_CACHE" not in os.environ:
        monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "genstudio-cache"))


# --- CPU seconds per test (`--cpu-durations=N`): what choosing SLOW needs on a shared machine ----------
# Wall-clock durations there say more about the neighbours than about the test; this process's CPU
# time does not (child processes are not counted: the multiprocess tier is left out of --quick anyway).

def pytest_addoption(parser):
    parser.addoption("--cpu-durations", type=int, default=None, metavar="N",
                     help="list the N tests that used the most CPU seconds in this process, and the total")


_cpu: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    import time
    t0 = time.process_time()
    yield
    _cpu[item.nodeid] = time.process_time() - t0
    log = os.environ.get("GENSTUDIO_CPU_LOG")  # one line per test as it ends (a long run read as it goes)
    if log:
        with open(log, "a") as f:
            f.write(f"{_cpu[item.nodeid]:.3f} {item.nodeid}\n")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = config.getoption("--cpu-durations")
    if n is None or not _cpu:
        return
    rows = sorted(_cpu.items(), key=lambda kv: -kv[1])
    terminalreporter.write_sep("=", f"CPU seconds: {sum(_cpu.values()):.1f} over {len(_cpu)} tests")
    for nodeid, seconds in rows[:n]:
        terminalreporter.write_line(f"{seconds:8.2f}s  {nodeid}")


# Automatic CPU threads stay at one per core without probing: runs a test compares must not depend
# on how busy the machine is (tests of the tuner switch it on themselves). Subprocesses inherit it.
os.environ.setdefault("GENSTUDIO_THREAD_PROBE", "0")

# As engines/__init__.py does for every entry point: set before a test module imports torch first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Several test workers (pytest-xdist) share the cores: each gets its share as its automatic thread count,
# or two workers at two threads each would ask four threads of two cores (what the thread tuner avoids
# in training). Tests that need a given count set it themselves; subprocesses inherit this.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _workers)))
