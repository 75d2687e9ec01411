"""Pure backtest metrics: precision and recall of would-be MQLs, and the AUC of a score."""

from collections.abc import Sequence


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with ties counted half). None without both classes."""
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: p[0])
    positives = sum(1 for _, y in pairs if y)
    negatives = len(pairs) - positives
    if not positives or not negatives:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2  # ranks are 1-based; tied values share the mean rank
        rank_sum += average_rank * sum(1 for _, y in pairs[i:j] if y)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def precision_recall(flags: Sequence[bool], labels: Sequence[bool]) -> tuple[float | None, float | None]:
    """Precision and recall of `flags` (would be an MQL) against `labels` (sales accepted it)."""
    tp = sum(1 for f, y in zip(flags, labels, strict=True) if f and y)
    flagged = sum(1 for f in flags if f)
    positives = sum(1 for y in labels if y)
    return (tp / flagged if flagged else None, tp / positives if positives else None)
