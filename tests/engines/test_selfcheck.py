"""The held-out self-check (engines/tools/selfcheck.py): the tool against its baseline, said in one
sentence, cached per checkpoint; fakes stand in for trained runs."""

import json

import numpy as np
import pytest

from engines.tools import selfcheck
from engines.tools.selfcheck import SelfCheck, self_check
from tests.engines.role_fakes import FakeAutoencoder


class _Held:
    def __init__(self, images):
        self.images, self.labels = images, np.zeros(len(images), np.int64)

    def __len__(self):
        return len(self.images)


def _smooth(n=6, size=8):
    yy, xx = np.mgrid[0:size, 0:size]
    return np.stack([(120 + 100 * np.sin((xx + i) / 3.0) * np.cos(yy / 4.0))[..., None]
                     for i in range(n)]).astype(np.uint8)


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A run folder with a checkpoint file, whose held-out split is a few smooth images."""
    (tmp_path / "checkpoints").mkdir()
    ck = tmp_path / "checkpoints" / "step_00000010.json"
    ck.write_text("{}")
    calls = []

    def split(record, engine):
        calls.append(1)
        return None, _Held(_smooth()), True, ""

    monkeypatch.setattr("engines.tools.common.run_split", split)
    return {"run": str(tmp_path), "checkpoint": str(ck), "checkpoint_step": 10}, calls


def test_a_model_that_does_nothing_loses_to_the_filter_and_says_so(run):
    record, _ = run
    check = self_check("denoise", FakeAutoencoder(size=8), record, n=6, sigma=40)
    assert check.available and check.images == 6 and check.held_out
    assert check.method.startswith("encode-decode")
    assert check.loses and check.margin < -1          # the identity "denoiser" returns the noisy image
    text = check.verdict()
    assert text.startswith("on your held-out images (6, noise sigma 40)")
    assert "loses to the best filter" in text and "before relying on it" in text
    assert json.loads(json.dumps(check.to_json()))["loses"] is True


def test_the_check_is_cached_per_checkpoint_and_settings(run, tmp_path):
    record, calls = run
    engine = FakeAutoencoder(size=8)
    first = self_check("inpaint", engine, record, n=4, steps=3)
    again = self_check("inpaint", engine, record, n=4, steps=3)
    assert len(calls) == 1 and again == first and first.available
    assert selfcheck.cached("inpaint", record, n=4, steps=3) == first
    assert selfcheck.cached("inpaint", record, n=5, steps=3) is None
    assert selfcheck.cached("inpaint", record, n=4, steps=4) is None       # the tool's options count too
    self_check("inpaint", engine, record, n=5, steps=3)
    assert len(calls) == 2
    ck = tmp_path / "checkpoints" / "step_00000010.json"
    ck.write_text('{"newer": 1}')                       # another checkpoint: checked afresh
    self_check("inpaint", engine, record, n=4, steps=3)
    assert len(calls) == 3


def test_no_data_no_check_with_the_reason(monkeypatch):
    monkeypatch.setattr("engines.tools.common.run_split",
                        lambda record, engine: (None, None, False, "an exported model file carries no data"))
    check = self_check("upscale", FakeAutoencoder(size=8), {"model_file": True})
    assert not check.available and not check.loses
    assert check.verdict() == "no held-out check: an exported model file carries no data"


def test_verdicts_for_winning_and_even():
    win = SelfCheck("upscale", "PSNR (dB)", 23.5, 20.4, "bicubic", images=24, settings={"small": 8, "size": 16})
    assert win.verdict().startswith("on your held-out images (24, 8 px -> 16 px) this model beats bicubic by 3.1 dB")
    even = SelfCheck("score", "AUROC", 0.505, 0.5, "the image's own complexity (PNG bits/dim)", images=10,
                     held_out=False)
    assert even.margin == pytest.approx(0.5) and not even.loses
    assert "trained on" in even.verdict() and "does no better than" in even.verdict()
    with pytest.raises(Exception, match="no self-check"):
        self_check("stylize", FakeAutoencoder(size=8), {})


def test_synthesize_check_is_the_cas_against_real_data_and_losing_runs_get_a_suggestion():
    from engines.tools.recommend import BEST, suggest

    engine = FakeAutoencoder(size=8)
    good = selfcheck.cas_check({"cas": 0.85, "real_baseline": 0.9, "test_images": 30}, engine, {"checkpoint_step": 5})
    assert good.available and not good.loses and "0.85" in good.verdict() and "stands in for real data" in good.verdict()
    bad = selfcheck.cas_check({"cas": 0.5, "real_baseline": 0.9, "test_images": 30}, engine, {})
    assert bad.loses and "train longer" in bad.verdict()
    assert bad.to_json()["suggestion"] == bad.suggestion
    none = selfcheck.cas_check({"cas": None, "note": "the run is not class-conditional"}, engine, {})
    assert not none.available and "not class-conditional" in none.verdict()
    best = BEST["denoise"][0]
    assert suggest("denoise", best, loses=False) == ""                      # the best kind, winning: nothing to add
    assert "more training" in suggest("denoise", best, loses=True)
    assert suggest("denoise", "no-such-family", loses=False).startswith(best)   # another kind did better: named
    assert suggest("stylize", "ae", loses=True) == ""
    # a kind the comparison never trained is not said to have done worse
    assert "did better" not in suggest("denoise", "glow", loses=False)
    assert "among the kinds compared" in suggest("denoise", "glow", loses=False)
    assert "did better" in suggest("denoise", "pixelcnn", loses=False)
