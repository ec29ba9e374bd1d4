"""The collapse and divergence monitor of adversarial families, as a mixin of their engine.

Per step a family adds diagnostics with `_note(name, value)` (D(real), D(fake), gradient norms...);
every `monitor_every` steps `monitor(step)` reports their interval means and draws a fixed batch from
the sampling generator to judge mode collapse (diversity in a fixed random feature space against the
data's, and near-duplicates), divergence (the discriminator winning outright for too long) and, on
labelled data, class coverage by the nearest class mean. The engine provides `config.latent_dim`,
`config.loss`, `_state`, `_probe`, `_sampling_generator_output`, `_last_real` and `_last_labels`.
"""

from __future__ import annotations


import torch

from ...nn import diversity
from ..base import Finding


MONITOR_SAMPLES = 64        # fixed batch drawn at every monitor call
MONITOR_SEED = 20_240_601   # its latents (and the random feature space) never change during a run
# Thresholds calibrated with benchmarks/gan_thresholds.py and benchmarks/gan_recipes.py on 28 px digits
# (healthy and deliberately broken runs; the figures: README, "Why the recipes are what they are").
# The diversity ratio alone cannot see a collapse onto several modes (nor onto one digit class); the
# near-duplicate share can, so either one raises the warning.
COLLAPSE_WARMUP = 1000      # before this step a still-featureless generator is not called "collapsed"
NEAR_DUPLICATE = 0.15       # two samples closer than this share of the data's mean distance are duplicates
                            # (real digits' closest pair in a batch is well above it: README)
DUPLICATE_SHARE = 0.5       # collapse when at least this share of the batch has a near duplicate


class AdversarialMonitor:
    """Diagnostics and findings for a GAN engine (see the module docstring for what it needs)."""

    def _note(self, name: str, value: float) -> None:
        """Add a per-step diagnostic to the running sums that monitor() averages and reports."""
        sums, counts = self._state["interval_sums"], self._state["interval_counts"]
        sums[name] = sums.get(name, 0.0) + float(value)
        counts[name] = counts.get(name, 0) + 1

    def interval_means(self) -> dict[str, float]:
        """Means of D(real), D(fake) and the gradient norms since the last monitor call."""
        st = self._state
        return {k: v / st["interval_counts"][k] for k, v in st["interval_sums"].items()}

    def _monitor_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        gen = torch.Generator().manual_seed(MONITOR_SEED)
        z = torch.randn(MONITOR_SAMPLES, self.config.latent_dim, generator=gen)
        labels = torch.arange(MONITOR_SAMPLES) % self.data.num_classes if self.conditional else None
        return z, labels

    @torch.no_grad()
    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        c, st = self.config, self._state
        metrics: dict[str, float] = self.interval_means()
        st["interval_sums"], st["interval_counts"] = {}, {}
        findings: list[Finding] = []

        real_features = None
        if self._last_real is not None and self._last_real.shape[0] >= 2:
            real_features = self._probe(self._last_real.float() / 127.5 - 1)
            # running mean over monitor calls: one batch is a noisy estimate of the data's diversity
            n = min(st["data_diversity_n"], 49)
            st["data_diversity"] = (st["data_diversity"] * n + diversity.mean_pairwise_distance(real_features)) / (n + 1)
            st["data_diversity_n"] += 1
            if self.data.num_classes > 0:
                self._update_class_means(real_features)

        z, labels = self._monitor_latents()
        fake = self._sampling_generator_output(z, labels)
        fake_features = self._probe(fake)
        sample_diversity = diversity.mean_pairwise_distance(fake_features)
        metrics["sample_diversity"] = sample_diversity
        reference = st["data_diversity"]
        if reference > 0:
            ratio = sample_diversity / reference
            metrics["diversity_vs_data"] = ratio
            duplicates = diversity.near_duplicate_share(fake_features, NEAR_DUPLICATE * reference)
            metrics["near_duplicates"] = duplicates
            findings += self._collapse_findings(step, ratio, duplicates)
        metrics.update(self._class_metrics(fake_features, labels))

        if st["saturated_streak"] >= c.divergence_steps:
            if not st["divergence_flagged"]:
                st["divergence_flagged"] = True
                findings.append(Finding(
                    "divergence",
                    f"The discriminator has beaten the generator outright for {st['saturated_streak']} steps in a "
                    f"row, so the generator is no longer learning. Roll back to the last checkpoint and try lower "
                    f"learning rates, spectral norm, or DiffAugment.", rollback=True))
        else:
            st["divergence_flagged"] = False
        metrics["d_saturated_steps"] = float(st["saturated_streak"])
        # a conditional recipe on unlabelled data trains unconditionally: say so once
        if getattr(c, "conditional", False) and not self.conditional and not st.get("unconditional_noted"):
            st["unconditional_noted"] = True
            findings.append(Finding("unconditional", self.unconditional_note()))
        return metrics, findings

    def unconditional_note(self) -> str:
        """What a conditional family says once when the data has no classes (a family may say more)."""
        return (f"{self.family} is training unconditionally: the data has no class subfolders, so there are no "
                f"classes to pick or mix. Put each class in its own subfolder to train it class-conditionally.")

    def _collapse_findings(self, step: int, ratio: float, duplicates: float) -> list[Finding]:
        st, threshold = self._state, self.config.collapse_ratio
        collapsed = ratio < threshold or duplicates >= DUPLICATE_SHARE
        if not collapsed:
            st["diversity_peak"] = max(st["diversity_peak"], ratio)
        # a fresh generator draws near-identical blobs: only a fall from real variety (or a long wait) counts
        armed = st["diversity_peak"] >= threshold or step >= COLLAPSE_WARMUP
        if not collapsed:
            st["collapse_flagged"] = False
            return []
        if not armed or st["collapse_flagged"]:
            return []
        st["collapse_flagged"] = True
        return [Finding(
            "mode-collapse",
            f"Samples have become much less varied than the data (diversity {ratio:.0%} of the data's, "
            f"{duplicates:.0%} with a near-duplicate): the generator may be collapsing onto a few images. Roll back to the last checkpoint, or try "
            f"lower learning rates, DiffAugment or the sngan recipe.", rollback=True)]

    def _update_class_means(self, real_features: torch.Tensor) -> None:
        st, k = self._state, self.data.num_classes
        if not st["class_sums"]:
            st["class_sums"] = [[0.0] * real_features.shape[1] for _ in range(k)]
            st["class_counts"] = [0] * k
        labels = self._last_labels
        sums = torch.tensor(st["class_sums"], dtype=torch.float64)
        sums.index_add_(0, labels.cpu(), real_features.double().cpu())
        st["class_sums"] = sums.tolist()
        for y in labels.tolist():
            st["class_counts"][y] += 1

    def _class_metrics(self, fake_features: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        st = self._state
        if not st["class_counts"]:
            return {}
        counts = torch.tensor(st["class_counts"], dtype=torch.float64)
        seen = counts > 0
        means = torch.tensor(st["class_sums"], dtype=torch.float64)[seen] / counts[seen, None]
        known = torch.nonzero(seen).flatten()
        assigned = known[diversity.nearest_mean(fake_features.cpu(), means)]
        per_class = torch.bincount(assigned, minlength=self.data.num_classes)
        out = {"classes_seen": float((per_class > 0).sum())}
        if labels is not None:
            out["class_agreement"] = float((assigned == labels).double().mean())
        if self.data.num_classes <= 16:
            for name, count in zip(self.data.class_names, per_class.tolist()):
                out[f"class_count/{name}"] = float(count)
        return out

    # --- sampling ---------------------------------------------------------------------------------
