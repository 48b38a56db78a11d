"""The JSON API of `drn serve` on pre-extracted features: the rows equal `Grounder.ground`, and
every bad request gets one clear message while the server keeps answering."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from drn.inference.grounder import Grounder
from tests.serve.conftest import DURATIONS, video_id

QUERIES = ["a person opens the door", "someone sits on the sofa"]


def expected_rows(checkpoint, features_dir, vid, queries):
    results = Grounder(checkpoint).ground(np.load(features_dir / f"{vid}.npy"), queries, DURATIONS[vid])
    return [r["pred_relevant_windows"] for r in results]


def test_predict_on_features_equals_the_grounder(make_client, checkpoint, features_dir):
    client = make_client()
    listed = client.get("/api/videos").json()["videos"]
    assert sorted(v["name"] for v in listed) == sorted(DURATIONS)
    response = client.post("/api/predict", json={"video": video_id(client, "kitchen"), "queries": QUERIES})
    assert response.status_code == 200, response.text
    rows = response.json()["predictions"]
    assert [r["qid"] for r in rows] == ["kitchen#0", "kitchen#1"]
    assert {r["vid"] for r in rows} == {"kitchen"} and {r["duration"] for r in rows} == {30.0}
    assert [r["query"] for r in rows] == QUERIES
    assert [r["pred_relevant_windows"] for r in rows] == expected_rows(checkpoint, features_dir, "kitchen", QUERIES)
    assert all(len(r["pred_relevant_windows"]) == 5 and "dense" not in r for r in rows)


def test_dense_scores_are_per_level_curves(make_client):
    client = make_client()
    row = client.post("/api/predict", json={"video": video_id(client, "hall"), "queries": QUERIES[:1],
                                            "dense": True}).json()["predictions"][0]
    dense = row["dense"]
    assert [len(t) for t in dense["time"]] == [len(m) for m in dense["match"]] == [len(i) for i in dense["iou"]]
    assert len(dense["time"]) == 3 and all(0 <= t <= 12.5 for level in dense["time"] for t in level)
    assert all(0 <= p <= 1 for level in dense["match"] + dense["iou"] for p in level)


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "/etc/passwd", "kitchen", "kitchen.npy", "v" + "0" * 16,
                                    "f" + "0" * 16, "", 7, None, ["f"]])
def test_ids_not_in_the_listing_are_refused(make_client, bad_id):
    response = make_client().post("/api/predict", json={"video": bad_id, "queries": QUERIES})
    assert response.status_code == 404
    assert response.json()["error"].startswith("no video with id")


@pytest.mark.parametrize("path", ["/api/videos/..%2F..%2Fetc%2Fpasswd/file", "/api/videos/%2e%2e/thumbnail?t=1",
                                  "/static/..%2Fsettings.py", "/static/../app.py", "/api/jobs/..%2F"])
def test_paths_never_leave_the_served_folders(make_client, path):
    response = make_client().get(path)
    assert response.status_code == 404
    assert b"import" not in response.content


@pytest.mark.parametrize("body, message", [
    ({"queries": []}, "give at least one sentence"),
    ({"queries": ["   "]}, "give at least one sentence"),
    ({"queries": "zzz qqq"}, "none of its words is in the model's vocabulary"),
    ({"queries": [1, 2]}, "must be a list of sentences"),
    ({"queries": ["door"] * 11}, "at most 10 sentences per request, got 11"),
    ({"queries": ["door " * 200]}, "at most 500 characters, got 999"),
])
def test_bad_queries_get_one_line(make_client, body, message):
    client = make_client()
    response = client.post("/api/predict", json={"video": video_id(client, "hall")} | body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error and "\n" not in error


def test_requests_that_are_not_json_or_forms(make_client):
    client = make_client()
    assert client.post("/api/predict", content=b"video=1", headers={"Content-Type": "text/plain"}).status_code == 415
    response = client.post("/api/predict", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "the body is not valid JSON"
    response = client.post("/api/predict", json=["a list"])
    assert response.status_code == 400 and "expected a JSON object" in response.json()["error"]
    huge = client.post("/api/predict", content=(b"x" * 65536 for _ in range(8)),  # chunked: no Content-Length
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"] == "the JSON body is larger than 256 KiB"


def test_a_page_on_another_host_name_is_refused_in_json(make_client):
    # DNS rebinding: a site that resolves its own name to 127.0.0.1 sends its Host header.
    client = make_client()
    response = client.get("/api/info", headers={"Host": "evil.example"})
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "this server answers only to 127.0.0.1, ::1, localhost in the Host header, "
                                        "got 'evil.example'"}
    assert response.headers["x-frame-options"] == "DENY"
    for host in ("localhost:7860", "127.0.0.1", "[::1]:7860"):
        assert client.get("/api/info", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("method, path, status", [("GET", "/nowhere", 404), ("DELETE", "/api/info", 405),
                                                  ("GET", "/api/predict", 405), ("GET", "/static/nothing.js", 404)])
def test_every_error_is_one_json_line(make_client, method, path, status):
    response = make_client().request(method, path)
    assert response.status_code == status and response.headers["content-type"] == "application/json"
    assert list(response.json()) == ["error"] and "\n" not in response.json()["error"]


def test_page_and_assets_are_local(make_client):
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/app.css"):
        response = client.get(asset)
        assert response.status_code == 200
        text = response.text.replace('"http://www.w3.org/2000/svg"', "")  # a namespace name, not a fetch
        assert "http://" not in text and "https://" not in text
    assert "https://" not in page.text and "http://" not in page.text


def test_upload_without_an_extractor_is_refused_before_storing(make_client, videos_dir):
    client = make_client()
    response = client.post("/api/uploads", files={"file": ("clip.webm", (videos_dir / "clip.webm").read_bytes())})
    assert response.status_code == 409
    assert "does not record how its features were extracted" in response.json()["error"]
    assert list(client.app.state.serve.library.upload_dir.iterdir()) == []


def test_many_users_at_once_get_their_own_results(make_client, checkpoint, features_dir):
    client = make_client()
    asks = [("kitchen", [QUERIES[0]]), ("hall", [QUERIES[1]]), ("kitchen", QUERIES), ("hall", ["a cup"])] * 4
    expected = {(vid, tuple(q)): expected_rows(checkpoint, features_dir, vid, q) for vid, q in asks}
    ids = {name: video_id(client, name) for name in DURATIONS}
    got, errors = [None] * len(asks), []

    def ask(i, vid, queries):
        try:
            response = client.post("/api/predict", json={"video": ids[vid], "queries": queries})
            got[i] = [r["pred_relevant_windows"] for r in response.json()["predictions"]]
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i, vid, q)) for i, (vid, q) in enumerate(asks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert got == [expected[(vid, tuple(q))] for vid, q in asks]
