"""Grab the Latent panel morphing one digit class into another on a small conditional VAE.

    .venv/bin/python scripts/latent_classes_shot.py [--steps N] [--out PATH]

Trains a small cVAE on scikit-learn's digits (16 px) through the CLI into a throwaway folder, opens
it in the real studio (offscreen unless a display is available), sets end point A to class 3 and
B to class 8, renders a strip and saves `QWidget.grab()` of the window.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "latent_classes.png"))
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from PySide6.QtCore import QEventLoop, QTimer

    from engines.cli import main as cli
    from engines.data.toy import write_digit_folder
    from studio.app import scratch_window

    scratch = Path(tempfile.mkdtemp(prefix="genstudio-classes-"))
    data = write_digit_folder(scratch / "digits", size=16)
    run = scratch / "run"
    code = cli(["train", "--family", "cvae", "--data", str(data), "--out", str(run), "--size", "16",
                "--steps", str(args.steps), "--batch-size", "64", "--set", "sample_every=0", "--quiet"])
    if code != 0:
        return code

    app, window = scratch_window("genstudio-classes-shot-", size=(1300, 860))

    def wait_for(signal, timeout_s: float) -> None:
        loop = QEventLoop()
        timer = QTimer(loop, singleShot=True, interval=int(timeout_s * 1000))
        timer.timeout.connect(loop.quit)
        signal.connect(loop.quit)
        timer.start()
        loop.exec()
        signal.disconnect(loop.quit)

    panel = window.panels["latent"]
    window.docks["latent"].raise_()
    panel.open_run(run)
    wait_for(panel.service.loaded, 60)
    for name, label, seed in (("A", 3, 1), ("B", 8, 2)):
        editor = panel.endpoints[name]
        editor.set_label(label)
        editor.set_seed(seed)
        wait_for(panel.service.endpoint_ready, 30)
    panel.frames_spin.setValue(8)
    panel.slider.setValue(500)
    panel.render_strip()
    wait_for(panel.service.frames_ready, 60)
    print("captions:", panel.result_captions)
    settle = QEventLoop()
    QTimer.singleShot(400, settle, settle.quit)
    settle.exec()
    window.grab().save(args.out)
    panel.grab().save(str(Path(args.out).with_name(Path(args.out).stem + "_panel.png")))
    print(f"wrote {args.out}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
