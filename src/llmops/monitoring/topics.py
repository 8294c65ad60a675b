"""Topic shift: do the two samples talk about the same things in the same proportions?

The pooled texts are clustered (k-means on TF-IDF + SVD vectors), each cluster is named
by its heaviest TF-IDF terms, and a chi-square test of independence on the 2 x k table
of cluster counts asks whether the shares differ. Cramér's V is the effect size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llmops.monitoring.stats import chi_square
from llmops.monitoring.vectors import tfidf_svd


@dataclass
class Topic:
    terms: list[str]
    current: int
    reference: int


@dataclass
class TopicShift:
    chi2: float
    p_value: float
    cramers_v: float
    topics: list[Topic]


def topic_count(n: int) -> int:
    """About one topic per 25 texts, between 2 and 8."""
    return max(2, min(8, n // 25))


def topic_shift(current: Sequence[str], reference: Sequence[str], *, k: int | None = None,
                seed: int = 0) -> TopicShift:
    from sklearn.cluster import KMeans

    texts = list(current) + list(reference)
    vectors, vectorizer, svd = tfidf_svd(texts, seed=seed)
    k = min(k or topic_count(len(texts)), len(texts))
    if vectorizer is None or k < 2:
        return TopicShift(0.0, 1.0, 0.0, [])
    kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vectors)
    labels = kmeans.labels_
    n = len(current)
    cur = np.bincount(labels[:n], minlength=k)
    ref = np.bincount(labels[n:], minlength=k)
    chi2, p = chi_square([cur.tolist(), ref.tolist()])
    centers = svd.inverse_transform(kmeans.cluster_centers_) if svd is not None else \
        kmeans.cluster_centers_
    vocabulary = vectorizer.get_feature_names_out()
    topics = [Topic(terms=[str(vocabulary[j]) for j in np.argsort(centers[i])[::-1][:4]],
                    current=int(cur[i]), reference=int(ref[i])) for i in range(k)]
    topics.sort(key=lambda t: -(t.current + t.reference))
    v = math.sqrt(chi2 / len(texts))  # a 2 x k table: min(rows, columns) - 1 is 1
    return TopicShift(chi2, p, min(1.0, v), topics)
