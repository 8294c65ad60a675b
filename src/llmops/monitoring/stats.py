"""The two-sample tests drift and abuse detection use, over scipy.stats.

Each returns ``(statistic, p_value)``. Only the MMD permutation test is written here
(scipy has none for vectors); it is seeded, so a report is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from llmops.errors import InvalidInput


def _scipy_stats() -> Any:
    try:
        import scipy.stats
    except ImportError:
        raise InvalidInput("drift and monitor tests need scipy: pip install "
                           "'llmops[monitor]'") from None
    return scipy.stats


def ks(current: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: the largest gap between the two CDFs."""
    ks_2samp = _scipy_stats().ks_2samp
    result = ks_2samp(current, reference)
    return float(result.statistic), float(result.pvalue)


def mann_whitney(current: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mann-Whitney U (two-sided): does one sample tend to have larger values?"""
    mannwhitneyu = _scipy_stats().mannwhitneyu
    if np.ptp(np.concatenate([current, reference])) == 0:
        return float(len(current) * len(reference) / 2), 1.0  # all equal: no evidence
    result = mannwhitneyu(current, reference, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def two_proportions(x1: int, n1: int, x2: int, n2: int, *,
                    alternative: str = "two-sided") -> tuple[float, float]:
    """Pooled two-proportion z-test of x1/n1 against x2/n2.

    `alternative` ``greater`` asks whether the first proportion is larger.
    """
    norm = _scipy_stats().norm
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    if alternative == "greater":
        return z, float(norm.sf(z))
    return z, float(2 * norm.sf(abs(z)))


def chi_square(table: Sequence[Sequence[int]]) -> tuple[float, float]:
    """Chi-square test of independence on a contingency table (columns with no counts
    are dropped); ``(0, 1)`` when fewer than two columns remain."""
    chi2_contingency = _scipy_stats().chi2_contingency
    counts = np.asarray(table, dtype=float)
    counts = counts[:, counts.sum(axis=0) > 0]
    if counts.shape[1] < 2:
        return 0.0, 1.0
    result = chi2_contingency(counts)
    return float(result.statistic), float(result.pvalue)


def poisson_excess(observed: int, expected: float) -> float:
    """P(X >= observed) for X ~ Poisson(expected): how surprising a count this high is."""
    poisson = _scipy_stats().poisson
    return float(poisson.sf(observed - 1, max(expected, 1e-9)))


def mmd_permutation(current: np.ndarray, reference: np.ndarray, *, permutations: int = 1000,
                    max_per_side: int = 400, seed: int = 0) -> tuple[float, float]:
    """Maximum mean discrepancy with an RBF kernel, p-value by permutation.

    The statistic is the (biased) squared MMD between the two sets of vectors; the kernel
    bandwidth is the median pairwise squared distance (the usual heuristic). The p-value
    is the share of random relabellings of the pooled vectors whose MMD is at least the
    observed one, ``(1 + hits) / (1 + permutations)``. Each side is subsampled to
    `max_per_side` vectors first, which keeps the kernel matrix small.
    """
    rng = np.random.default_rng(seed)

    def cap(x: np.ndarray) -> np.ndarray:
        return x[rng.choice(len(x), max_per_side, replace=False)] if len(x) > max_per_side else x

    x, y = cap(np.asarray(current, dtype=float)), cap(np.asarray(reference, dtype=float))
    pooled = np.vstack([x, y])
    sq = np.sum(pooled**2, axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0.0)
    positive = dist[np.triu_indices(len(pooled), k=1)]
    positive = positive[positive > 0]
    bandwidth = float(np.median(positive)) if len(positive) else 1.0
    kernel = np.exp(-dist / bandwidth)
    n, m = len(x), len(y)

    def weights(labels: np.ndarray) -> np.ndarray:
        # a^T K a with a = 1/n on the first sample and -1/m on the second is MMD^2
        return np.where(labels, 1.0 / n, -1.0 / m)

    observed_labels = np.arange(n + m) < n
    observed_w = weights(observed_labels)
    observed = float(observed_w @ kernel @ observed_w)
    perms = np.stack([weights(rng.permutation(observed_labels)) for _ in range(permutations)])
    null = np.einsum("ij,ij->i", perms @ kernel, perms)
    p_value = (1 + int(np.sum(null >= observed - 1e-12))) / (1 + permutations)
    return observed, p_value
