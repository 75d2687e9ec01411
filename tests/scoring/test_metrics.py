import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.metrics import auc, precision_recall


def test_auc_of_a_perfect_ranking_is_one_and_of_a_reversed_one_is_zero():
    assert auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auc([4, 3, 2, 1], [False, False, True, True]) == 0.0


def test_auc_counts_ties_as_half():
    assert auc([5, 5], [True, False]) == 0.5


def test_auc_needs_both_classes():
    assert auc([1, 2], [True, True]) is None


@given(st.lists(st.tuples(st.integers(0, 100), st.booleans()), min_size=2, max_size=40))
def test_auc_matches_the_pairwise_definition(rows):
    scores, labels = [s for s, _ in rows], [y for _, y in rows]
    pos = [s for s, y in rows if y]
    neg = [s for s, y in rows if not y]
    if not pos or not neg:
        assert auc(scores, labels) is None
        return
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))
    assert auc(scores, labels) == pytest.approx(expected)


def test_precision_and_recall_of_flags():
    assert precision_recall([True, True, False, False], [True, False, True, False]) == (0.5, 0.5)
    assert precision_recall([False, False], [True, False]) == (None, 0.0)
