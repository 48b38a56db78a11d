"""Batching across requests in the app: a full queue answers 503 with a JSON body and Retry-After, the
page and /api/info answer while the model works, and each video is encoded once (again when its
features change), with a key that names the checkpoint."""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from tests.serve.conftest import video_id

QUERIES = ["a person opens the door", "someone sits on the sofa"]


def in_thread(call):
    """Start `call()` in a thread; returns a function that joins it and gives its result."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", call()))
    thread.start()

    def join():
        thread.join(timeout=120)
        return result["value"]

    return join


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_full_queue_answers_503_with_retry_after(make_client):
    client = make_client(batch_window_ms=1000, queue_size=10)  # the first request waits a second in the queue
    batcher = client.app.state.serve.runner.batcher
    kitchen = video_id(client, "kitchen")
    first = in_thread(lambda: client.post("/api/predict", json={"video": kitchen, "queries": ["door"] * 10}))
    wait_until(lambda: batcher.queued == 10)
    refused = client.post("/api/predict", json={"video": kitchen, "queries": QUERIES[:1]})
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json() == {"error": "the server is busy: 10 sentences are waiting for the model (at most 10, "
                                       f"drn serve --queue-size); retry in {refused.headers['Retry-After']} s"}
    assert first().status_code == 200
    assert client.post("/api/predict", json={"video": kitchen, "queries": QUERIES[:1]}).status_code == 200


def test_the_page_and_info_answer_while_the_model_works(make_client):
    client = make_client()
    runner = client.app.state.serve.runner
    working, release = threading.Event(), threading.Event()
    ground = runner.engine.ground

    def slow_ground(*args, **kwargs):
        working.set()
        release.wait(60)
        return ground(*args, **kwargs)

    runner.engine.ground = slow_ground
    try:
        hall = video_id(client, "hall")
        busy = in_thread(lambda: client.post("/api/predict", json={"video": hall, "queries": QUERIES}))
        assert working.wait(60)
        for path in ("/api/info", "/", "/api/videos"):
            assert client.get(path).status_code == 200  # while the model is held in the middle of a batch
        assert client.get("/api/info").json()["batching"]["window_ms"] == 5.0
    finally:
        release.set()
    assert busy().status_code == 200


def test_a_video_is_encoded_once_and_again_when_its_features_change(make_client, checkpoint, tmp_path):
    from drn.serve.features import file_sha256
    from tests.helpers.checkpoints import features_folder

    folder = features_folder(tmp_path / "features", {"kitchen": 30.0, "hall": 12.5})
    client = make_client(features=folder)
    runner = client.app.state.serve.runner
    kitchen = video_id(client, "kitchen")
    first = client.post("/api/predict", json={"video": kitchen, "queries": QUERIES[:1]}).json()["predictions"]
    client.post("/api/predict", json={"video": kitchen, "queries": QUERIES[1:]})
    assert len(runner.videos) == 1 and len(runner.sentences) == 2
    (key,) = runner.videos._items  # (what the features are, ..., the checkpoint's sha256)
    assert key[-1] == file_sha256(checkpoint)
    again = client.post("/api/predict", json={"video": kitchen, "queries": QUERIES[:1]}).json()["predictions"]
    assert again == first and len(runner.videos) == 1

    np.save(folder / "kitchen.npy", np.random.default_rng(9).standard_normal((30, 16)).astype(np.float32))
    os.utime(folder / "kitchen.npy", ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = client.post("/api/predict", json={"video": kitchen, "queries": QUERIES[:1]}).json()["predictions"]
    assert len(runner.videos) == 2 and changed != first  # re-encoded from the new features, not the stale encoding


def test_a_bad_video_fails_its_request_alone_in_a_batch(make_client, tmp_path):
    from tests.helpers.checkpoints import features_folder

    folder = features_folder(tmp_path / "features", {"kitchen": 30.0, "hall": 12.5})
    client = make_client(features=folder, batch_window_ms=1000)
    (folder / "hall.npy").write_bytes(b"not an npy file")
    batcher = client.app.state.serve.runner.batcher
    asks = {name: in_thread(lambda vid=video_id(client, name): client.post(
        "/api/predict", json={"video": vid, "queries": QUERIES})) for name in ("kitchen", "hall")}
    kitchen, hall = asks["kitchen"](), asks["hall"]()
    assert batcher.batches == 1  # both in one batch
    assert kitchen.status_code == 200 and len(kitchen.json()["predictions"]) == 2
    assert hall.status_code == 400 and hall.json()["error"].startswith("hall: its features cannot be read")
