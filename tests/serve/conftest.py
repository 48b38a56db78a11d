"""Fixtures of the `drn serve` tests: a tiny random checkpoint, a features folder, a video folder,
and the app behind a TestClient that talks as a loopback browser would."""

from __future__ import annotations

import pytest

from tests.helpers.checkpoints import MID_FEATURE_DIM, MID_MODEL, features_folder, random_checkpoint
from tests.serve.videos import write_video

DURATIONS = {"kitchen": 30.0, "hall": 12.5}
MID_DURATIONS = {"kitchen": 24.0, "hall": 40.0, "attic": 62.5}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny.pt")


@pytest.fixture(scope="session")
def features_dir(tmp_path_factory):
    return features_folder(tmp_path_factory.mktemp("features"), DURATIONS)


@pytest.fixture(scope="session")
def videos_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "clip.webm", seconds=3.0)
    (root / "notes.mp4").write_text("not a video, whatever the name says")
    return root


@pytest.fixture(scope="session")
def mid_checkpoint(tmp_path_factory):
    """A random checkpoint of widths where batching could change answers (see MID_MODEL)."""
    return random_checkpoint(tmp_path_factory.mktemp("mid") / "mid.pt", feature_dim=MID_FEATURE_DIM, model=MID_MODEL)


@pytest.fixture(scope="session")
def mid_features_dir(tmp_path_factory):
    return features_folder(tmp_path_factory.mktemp("mid_features"), MID_DURATIONS, feature_dim=MID_FEATURE_DIM)


@pytest.fixture
def make_client(checkpoint, features_dir):
    """`make_client(**settings)` -> a started TestClient of a fresh app (closed after the test)."""
    from fastapi.testclient import TestClient

    from drn.serve import ServeSettings, create_app

    clients = []

    def make(**options):
        options = {"checkpoint": checkpoint, "features": features_dir} | options
        client = TestClient(create_app(ServeSettings(**options)), base_url="http://127.0.0.1")
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def video_id(client, name: str) -> str:
    return next(v["id"] for v in client.get("/api/videos").json()["videos"] if v["name"] == name)


@pytest.fixture(scope="session")
def video_checkpoint(tmp_path_factory):
    """A tiny random checkpoint that records `tiny`-backbone extraction settings, so it encodes videos."""
    from drn.video.backbones import load_backbone
    from drn.video.extract import extraction_settings

    settings = extraction_settings(load_backbone("tiny"))
    return random_checkpoint(tmp_path_factory.mktemp("video_checkpoint") / "tiny_video.pt",
                             feature_dim=settings["dim"], extra={"extraction": settings},
                             match_gain=1e5)  # tiny's features vary little: a strong gain spreads the scores


def wait_for(client, job: dict, timeout: float = 60.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job
