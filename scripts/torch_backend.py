"""Choose the PyTorch build for this machine (standard library only: it runs before torch exists).

    python scripts/torch_backend.py            # KEY=VALUE lines for scripts/setup.sh (shell-quoted)
    python scripts/torch_backend.py --json     # the same choice as JSON

The choice, in order:
1. GENSTUDIO_TORCH_BACKEND when set: `cpu`, `cuda` (the newest CUDA build the driver can run), a CUDA
   build by tag (`cu126`, `cu128`, ...), `rocm6.4`-style tags, or `default` (the package index's own
   build: macOS, or whatever pip picks).
2. macOS: the package index's build (it includes Apple's MPS backend on Apple silicon).
3. An NVIDIA GPU (nvidia-smi answers with a driver version): the newest CUDA build whose minimum
   driver the installed driver meets; a driver older than every build's minimum gets the CPU build,
   with the reason recorded so the studio's Help > About can show it.
4. Otherwise the CPU build (on Linux the package index's default build is the CUDA one, gigabytes
   of libraries a machine without an NVIDIA GPU cannot use).

Minimum Linux/Windows driver versions are NVIDIA's published ones for each CUDA toolkit.
GENSTUDIO_TORCH_CUDA_TAGS (comma separated) lists the CUDA builds to choose among, when the pinned
PyTorch version has other ones.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys

WHEEL_INDEX = "https://download.pytorch.org/whl"
# CUDA build tag -> minimum NVIDIA driver (Linux, Windows)
CUDA_MIN_DRIVER = {
    "cu130": ((580, 65), (580, 88)),
    "cu129": ((575, 51), (576, 2)),
    "cu128": ((570, 26), (570, 65)),
    "cu126": ((560, 28), (560, 76)),
    "cu124": ((550, 54), (551, 61)),
    "cu121": ((530, 30), (531, 14)),
    "cu118": ((520, 61), (520, 6)),
}
DEFAULT_CUDA_TAGS = "cu130,cu128,cu126"


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.strip().split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def query_nvidia() -> tuple[str | None, str | None, str]:
    """(driver version, GPU name, why not) from nvidia-smi; (None, None, reason) without one."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None, None, "no NVIDIA GPU found (nvidia-smi is not on the PATH)"
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"nvidia-smi did not answer ({exc})"
    line = next((ln for ln in out.stdout.splitlines() if ln.strip()), "")
    if out.returncode != 0 or "," not in line:
        detail = (out.stderr or out.stdout).strip().splitlines()
        return None, None, f"nvidia-smi found no usable GPU ({detail[0] if detail else f'exit {out.returncode}'})"
    driver, name = (part.strip() for part in line.split(",", 1))
    return driver, name, ""


def choose(env: dict[str, str] | None = None, system: str | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    system = system or platform.system()
    asked = env.get("GENSTUDIO_TORCH_BACKEND", "").strip().lower()
    tags = [t.strip() for t in env.get("GENSTUDIO_TORCH_CUDA_TAGS", DEFAULT_CUDA_TAGS).split(",") if t.strip()]
    choice = {"backend": "cpu", "index": f"{WHEEL_INDEX}/cpu", "gpu": "", "driver": "", "reason": "",
              "asked": asked or "auto"}

    def cuda(tag: str, why: str) -> dict[str, str]:
        return {**choice, "backend": tag, "index": f"{WHEEL_INDEX}/{tag}", "reason": why}

    if asked in ("default", "mps") or (not asked and system == "Darwin"):
        why = "asked for" if asked else "macOS: the package index's build (MPS on Apple silicon)"
        return {**choice, "backend": "default", "index": "", "reason": why}
    if asked == "cpu":
        return {**choice, "reason": "asked for (GENSTUDIO_TORCH_BACKEND=cpu)"}
    if asked.startswith("cu") and asked != "cuda" or asked.startswith("rocm"):
        return cuda(asked, f"asked for (GENSTUDIO_TORCH_BACKEND={asked})")
    if asked not in ("", "cuda"):
        raise SystemExit(f"setup: GENSTUDIO_TORCH_BACKEND={asked!r} is not one of cpu, cuda, cuXXX, rocmX.Y, default")

    driver, name, why_not = query_nvidia()
    if driver is None:
        if asked == "cuda":  # asked for CUDA without a driver to read: the newest build, said so
            return cuda(tags[0], f"asked for (GENSTUDIO_TORCH_BACKEND=cuda); {why_not}")
        return {**choice, "reason": why_not}
    choice.update(gpu=name or "", driver=driver)
    have = _version(driver)
    column = 1 if system == "Windows" else 0
    for tag in tags:
        need = CUDA_MIN_DRIVER.get(tag, ((0,), (0,)))[column]
        if have >= need:
            return cuda(tag, f"{name} with driver {driver}")
    oldest = tags[-1]
    need = ".".join(map(str, CUDA_MIN_DRIVER.get(oldest, ((0,), (0,)))[column]))
    return {**choice, "reason": f"{name}: driver {driver} is older than {need}, which the oldest CUDA build "
                                f"({oldest}) needs; using the CPU build (update the NVIDIA driver to use the GPU)"}


def record(path: str) -> None:
    """After the install: what was chosen and what PyTorch itself reports, written atomically."""
    import torch  # the freshly installed build

    info = {**json.loads(os.environ["TORCH_CHOICE"]), "pinned": os.environ["TORCH_PIN"],
            "source": os.environ.get("TORCH_SOURCE", ""), "version": torch.__version__,
            "cuda": torch.version.cuda or "", "cuda_available": False, "fallback": ""}
    if info["backend"].startswith(("cu", "rocm")):
        try:
            info["cuda_available"] = bool(torch.cuda.is_available())
        except Exception as exc:  # a broken driver stack: the studio runs on the CPU, and says why
            info["fallback"] = f"the GPU build could not start CUDA ({exc}); running on the CPU"
        if not info["cuda_available"] and not info["fallback"]:
            info["fallback"] = "the GPU build found no usable GPU (torch.cuda.is_available() is False); running on the CPU"
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(info, fh, indent=1)
    os.replace(tmp, path)
    print(f"setup: PyTorch {info['version']} installed from {info['source'] or 'the package index'}"
          + (f"; {info['fallback']}" if info["fallback"] else ""))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--record"] and len(argv) == 2:
        record(argv[1])
        return 0
    choice = choose()
    if "--json" in argv:
        print(json.dumps(choice, indent=1))
    else:
        for key, value in choice.items():
            print(f"torch_{key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
