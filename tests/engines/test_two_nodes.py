"""Two machines, simulated on this one: `torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d
--rdzv-endpoint 127.0.0.1:PORT` started twice, as node ranks 0 and 1 (loopback only). The run trains,
logs each step once, only node 0 writes, it resumes on two nodes; SIGKILL of node 1's training
process ends the run on node 0 within the collective timeout, with `failure` in run.json and the last
checkpoint intact and resumable."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from engines.cli import main
from engines.train.checkpoint import latest_checkpoint, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 20  # --collective-timeout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _folder(tmp_path, n=16, size=16):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(n):
        Image.new("L", (size, size), color=i * 15).save(folder / f"{i}.png")
    return folder


def _train_args(imgs, out, steps, *extra):
    return ["train", "--family", "vae", "--data", str(imgs), "--size", "16", "--steps", str(steps),
            "--batch-size", "4", "--set", "latent_dim=4", "--set", "width=4", "--set", "log_every=1",
            "--set", "sample_every=0", "--set", "n_samples=4", "--set", "validate_every=0",
            "--collective-timeout", str(TIMEOUT_S), "--out", str(out), "--events", "jsonl", *extra]


def _node(rank: int, port: int, argv: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--node-rank", str(rank), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
           "--max-restarts", "0", "-m", "engines.cli", *argv]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _two_nodes(tmp_path, argv0, argv1, tag):
    port = _free_port()
    nodes = [_node(0, port, argv0, tmp_path / f"{tag}-0.log")]
    time.sleep(0.5)  # node 0 hosts the rendezvous
    nodes.append(_node(1, port, argv1, tmp_path / f"{tag}-1.log"))
    return nodes


def _wait(nodes, tmp_path, tag, timeout=240):
    try:
        codes = [p.wait(timeout=timeout) for p in nodes]
    finally:
        for p in nodes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    logs = [(tmp_path / f"{tag}-{r}.log").read_text() for r in range(2)]
    return codes, logs


def _events(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith('{"')]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_two_nodes_train_resume_and_survive_losing_one(tmp_path):
    """One run through its life on two simulated nodes (one test: each launch starts four Pythons)."""
    imgs = _folder(tmp_path)
    out, other = tmp_path / "run", tmp_path / "node1-out"
    every = ("--set", "checkpoint_every=2")
    nodes = _two_nodes(tmp_path, _train_args(imgs, out, 3, *every), _train_args(imgs, other, 3, *every), "new")
    codes, logs = _wait(nodes, tmp_path, "new")
    assert codes == [0, 0], logs
    assert not other.exists()  # node 1 writes nothing: the run is rank 0's folder
    events = _events(logs[0])
    assert events[0]["event"] == "Started" and events[-1]["event"] == "Finished", logs[0][-2000:]
    assert (events[0]["world_size"], events[0]["global_batch"]) == (2, 4)
    assert not _events(logs[1])  # node 1 trains silently
    assert [r["step"] for r in _rows(out)] == [1, 2, 3]  # each step logged once
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["distributed"]["world_size"] == 2

    # resumed on two nodes (the run folder at the same path on both, as on a shared disk), then
    # node 1's training process is killed once a new checkpoint exists
    args = _train_args(imgs, out, 100000, "--resume")
    nodes = _two_nodes(tmp_path, args, args, "resume")
    try:
        deadline = time.monotonic() + 240
        while (latest_checkpoint(out) or out).name < "step_00000005":
            assert time.monotonic() < deadline, "no new checkpoint came"
            assert all(p.poll() is None for p in nodes), [(tmp_path / f"resume-{r}.log").read_text() for r in range(2)]
            time.sleep(0.2)
        workers = _children(nodes[1].pid)
        assert workers, "node 1's training process"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        nodes[0].wait(timeout=TIMEOUT_S + 60)
        took = time.monotonic() - killed
    finally:
        for p in nodes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    logs = [(tmp_path / f"resume-{r}.log").read_text()[-3000:] for r in range(2)]
    assert nodes[0].returncode != 0, logs
    assert took < TIMEOUT_S + 30, took
    assert not [e for e in _events(logs[0]) if e["event"] == "TrainWarning" and e.get("kind") == "distributed"]
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and record["failure"]["message"], logs
    steps = [r["step"] for r in _rows(out) if "losses" in r]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 5  # the resume went on, each step once

    path = latest_checkpoint(out)
    _, meta = load_checkpoint(path)  # intact (hashes verified) and resumable
    step = int(meta["step"])
    assert main(["train", "--resume", "--out", str(out), "--steps", str(step + 2), "--quiet"]) == 0
    assert [r["step"] for r in _rows(out) if "losses" in r][-3:] == [step, step + 1, step + 2]
