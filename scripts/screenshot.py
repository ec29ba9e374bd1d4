"""Screenshots of the real studio window (a short DCGAN run: assets/screenshot.png; --first-run: the README's pictures).

    xvfb-run -s "-screen 0 1280x720x24" .venv/bin/python scripts/screenshot.py [--steps N] [--out PATH]
    xvfb-run -s "-screen 0 1280x720x24" .venv/bin/python scripts/screenshot.py --first-run [--at 30] \
        [--out assets/studio-first-run.png]

Opens the main window (offscreen unless a display is available; under Xvfb as above it is the real X11
window on a 1280×720 screen, laid out as a laptop shows it), loads the bundled sample digits, trains a
short GAN (DCGAN unless --family says another) for real so the curves and the gallery are populated, enlarges one
sample and saves `QWidget.grab()` of the window. Uses a throwaway workspace and settings file.

--first-run does what a new person does instead: loads the sample digits as the studio offers them and
presses Start with every setting as the studio opens (its five-minute first run), and saves the window
`--at` seconds after training started (NAME-30s.png) and when the run has ended (NAME-end.png).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--family", default="dcgan", help="a GAN family (its form has g_width, d_width)")
    parser.add_argument("--size", default="1280x720", help="window size WxH (default: a laptop screen)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshot.png"))
    parser.add_argument("--first-run", action="store_true",
                        help="the studio's own first run (sample digits, every setting as it opens): two shots")
    parser.add_argument("--at", type=float, default=30.0, help="--first-run: seconds of training before the first shot")
    args = parser.parse_args()
    if args.first_run:
        return first_run(args)

    import torch
    torch.set_num_threads(args.threads)
    from PySide6.QtCore import QEventLoop, QTimer

    from studio.app import scratch_window

    width, height = (int(v) for v in args.size.lower().split("x"))
    app, window = scratch_window("genstudio-shot-", size=(width, height))
    state = window.state

    def wait_for(signal, timeout_s: float) -> None:
        loop = QEventLoop()
        timer = QTimer(loop, singleShot=True, interval=int(timeout_s * 1000))  # dies with the loop
        timer.timeout.connect(loop.quit)
        signal.connect(loop.quit)
        timer.start()
        loop.exec()
        signal.disconnect(loop.quit)

    dataset_panel = window.panels["dataset"]
    dataset_panel.size_box.setValue(28)
    state.load_sample()
    wait_for(state.dataset_changed, 120)
    if state.dataset is None:
        print("could not load the sample digits", file=sys.stderr)
        return 1

    model = window.panels["model"]
    model.family_box.setCurrentIndex(model.family_box.findData(args.family))
    model.family_form.editor("g_width").setValue(32)
    model.family_form.editor("d_width").setValue(32)
    settings = model.settings_form
    settings.editor("steps").setValue(args.steps)
    settings.editor("threads").setValue(args.threads)
    settings.editor("batch_size").setValue(64)
    settings.editor("sample_every").setValue(100)
    settings.editor("log_every").setValue(2)
    settings.editor("checkpoint_every").setValue(0)
    settings.editor("n_samples").setValue(64)

    t0 = time.perf_counter()
    state.progress.connect(lambda e: print(f"\rstep {e.step}/{e.total_steps}", end="", flush=True)
                           if e.step % 50 == 0 else None)
    if not state.start():
        print("could not start training", file=sys.stderr)
        return 1
    wait_for(state.run_ended, 1800)
    print(f"\ntrained {args.steps} steps in {time.perf_counter() - t0:.0f} s")

    gallery = window.panels["gallery"]
    window.docks["gallery"].raise_()  # other panels share its tab group
    if gallery.latest is not None:
        gallery.click_tile(10)
        gallery.click_tile(19, add=True)
    window.message_bar.clear()  # "Training completed…" would expire by itself a few seconds later
    window.panels["losses"].redraw()
    settle = QEventLoop()
    QTimer.singleShot(300, settle, settle.quit)  # let layouts and the plot settle before grabbing
    settle.exec()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(f"wrote {out}")
    window.close()
    return 0


def _settle_and_grab(app, window, out: Path) -> None:
    from PySide6.QtCore import QEventLoop, QTimer
    settle = QEventLoop()
    QTimer.singleShot(300, settle, settle.quit)  # let layouts and the plot settle before grabbing
    settle.exec()
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(f"wrote {out} ({window.width()}×{window.height()})", flush=True)


def first_run(args) -> int:
    from PySide6.QtCore import QEventLoop, QTimer

    from studio.app import scratch_window

    width, height = (int(v) for v in args.size.lower().split("x"))
    app, window = scratch_window("genstudio-shot-", size=(width, height))
    state = window.state
    out = Path(args.out)
    stem = out.with_suffix("").name if out.name != "screenshot.png" else "studio-first-run"
    shots = (out.parent / f"{stem}-{int(args.at)}s.png", out.parent / f"{stem}-end.png")

    loop = QEventLoop()
    state.dataset_changed.connect(loop.quit)
    state.load_sample()                       # File > Load sample digits, as the empty studio suggests
    QTimer.singleShot(120_000, loop, loop.quit)
    loop.exec()
    if state.dataset is None:
        print("could not load the sample digits", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    state.progress.connect(lambda e: print(f"\rstep {e.step} ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
                           if e.step % 100 == 0 else None)
    ended = QEventLoop()
    state.run_ended.connect(ended.quit)

    def first_shot() -> None:
        print()
        _settle_and_grab(app, window, shots[0])

    state.run_started.connect(lambda _e: QTimer.singleShot(int(args.at * 1000), first_shot))
    state.actions.start.trigger()             # Start, every setting as the studio opens
    QTimer.singleShot(1_800_000, ended, ended.quit)
    ended.exec()
    print(f"\nthe run ended after {time.perf_counter() - t0:.0f} s")
    _settle_and_grab(app, window, shots[1])
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
