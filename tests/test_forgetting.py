"""Forgetting events on a hand-checked example."""

from __future__ import annotations

import numpy as np
import pytest

from panning.forgetting import ForgettingCounter, forgetting_events


def test_hand_checked_sequences():
    # Observations (rows) of 5 examples (columns), 1 = predicted right:
    #   ex0: 1 0 1 0 1 -> right->wrong at t=1 and t=3          -> 2 events
    #   ex1: 0 0 0 0 0 -> never learned                        -> inf
    #   ex2: 0 1 1 1 1 -> learned once, never forgotten        -> 0
    #   ex3: 1 1 1 1 0 -> forgotten at the very end            -> 1
    #   ex4: 1 1 0 0 1 -> one event (the 0 -> 0 is not one)    -> 1
    record = np.array(
        [
            [1, 0, 0, 1, 1],
            [0, 0, 1, 1, 1],
            [1, 0, 1, 1, 0],
            [0, 0, 1, 1, 0],
            [1, 0, 1, 0, 1],
        ]
    )
    assert forgetting_events(record).tolist() == [2.0, np.inf, 0.0, 1.0, 1.0]


def test_counter_with_minibatches_in_shuffled_order():
    c = ForgettingCounter(4)
    c.update([2, 0], [True, True])  # epoch 1, batch 1
    c.update([3, 1], [False, True])  # epoch 1, batch 2
    c.update([1, 2], [False, False])  # epoch 2: 1 and 2 forgotten
    c.update([0, 3], [True, False])
    c.update([0, 1, 2, 3], [False, True, False, False])  # epoch 3: 0 forgotten
    assert c.scores().tolist() == [1.0, 1.0, 1.0, np.inf]
    assert c.seen.tolist() == [3, 3, 3, 3]


def test_counter_errors():
    c = ForgettingCounter(3)
    with pytest.raises(ValueError, match="differ in length"):
        c.update([0, 1], [True])
    with pytest.raises(ValueError, match="in \\[0, 3\\)"):
        c.update([3], [True])
    with pytest.raises(ValueError, match="2-D"):
        forgetting_events([1, 0, 1])
