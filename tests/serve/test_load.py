"""Many clients at once on loopback, batched together: every request answered, each with its own
result, equal to the answer the same request gets alone (to the printed digits), at widths where a
plain batched forward would change them (tests/inference/test_invariant.py shows it does)."""

from __future__ import annotations

import pytest

from drn.serve.load import background_server, run_load
from tests.serve.conftest import video_id

CLIENTS = 16
ROUNDS = 2
SENTENCES = ["a person opens the door", "someone sits on the sofa", "a person drinks from a cup", "door"]


@pytest.mark.slow
def test_concurrent_clients_get_the_answers_they_get_alone(make_client, mid_checkpoint, mid_features_dir):
    client = make_client(checkpoint=mid_checkpoint, features=mid_features_dir, batch_window_ms=20)
    ids = [video_id(client, name) for name in ("kitchen", "hall", "attic")]
    bodies = [{"video": vid, "queries": [sentence]} for vid in ids for sentence in SENTENCES]
    bodies += [{"video": ids[0], "queries": SENTENCES}, {"video": ids[2], "queries": SENTENCES[::-1]}]
    batcher = client.app.state.serve.runner.batcher
    with background_server(client.app) as url:
        alone = run_load(url, bodies, clients=1, rounds=1)
        assert alone.failures == [] and batcher.batches == len(bodies)  # one request a batch when alone
        sequential = {i: next(iter(answers)) for i, answers in alone.answers.items()}
        report = run_load(url, bodies, clients=CLIENTS, rounds=ROUNDS, timeout=120)
    assert report.failures == [] and report.rejected == 0
    assert report.requests == CLIENTS * ROUNDS * len(bodies) == report.answered
    assert {i: answers for i, answers in report.answers.items()} == {i: {sequential[i]} for i in range(len(bodies))}
    assert batcher.batches - len(bodies) < report.requests / 2  # requests did run together
    assert 0 < report.percentile(0.5) <= report.percentile(0.95) <= report.percentile(0.99)
