"""Videos through `drn serve`: uploads are probed and limited, extracted once (cached by content),
grounded as `drn.inference.video.ground_video` grounds them; bad files get a message and the server goes on."""

from __future__ import annotations

import io

import numpy as np
import pytest

from drn.inference.grounder import Grounder
from drn.inference.video import ground_video
from tests.serve.conftest import video_id, wait_for
from tests.serve.videos import write_video

QUERIES = ["a person opens the door", "someone sits on the sofa"]


@pytest.fixture
def video_client(make_client, video_checkpoint, videos_dir):
    return make_client(checkpoint=video_checkpoint, features=None, videos=videos_dir)


def upload(client, path, name=None):
    return client.post("/api/uploads", files={"file": (name or path.name, path.read_bytes(), "video/webm")})


def test_upload_extract_and_ground_like_ground_video(video_client, video_checkpoint, tmp_path):
    video = write_video(tmp_path / "my clip.webm", seconds=5.0)
    response = upload(video_client, video)
    assert response.status_code == 202, response.text
    entry, job = response.json()["video"], response.json()["job"]
    assert entry["kind"] == "upload" and entry["name"] == "my_clip" and entry["playable"]
    assert abs(entry["duration"] - 5.0) < 0.2
    assert entry["id"] not in {v["id"] for v in video_client.get("/api/videos").json()["videos"]}  # private
    assert wait_for(video_client, job)["state"] == "done"

    rows = video_client.post("/api/predict", json={"video": entry["id"], "queries": QUERIES}).json()["predictions"]
    expected = ground_video(Grounder(video_checkpoint), video, QUERIES)
    assert [r["pred_relevant_windows"] for r in rows] == [r["pred_relevant_windows"] for r in expected]
    assert [r["duration"] for r in rows] == [r["duration"] for r in expected]
    assert [r["qid"] for r in rows] == ["my_clip#0", "my_clip#1"]

    # The same bytes again (another user, another name): cached, ready at once, same answer.
    again = upload(video_client, video, name="copy.webm").json()
    assert again["video"]["id"] != entry["id"] and again["job"]["state"] == "done"
    assert len(video_client.app.state.serve.features.cache) == 1
    rows_again = video_client.post("/api/predict", json={"video": again["video"]["id"], "queries": QUERIES}).json()
    assert [r["pred_relevant_windows"] for r in rows_again["predictions"]] == [r["pred_relevant_windows"] for r in rows]


def test_multipart_predict_as_curl_sends_it(video_client, video_checkpoint, tmp_path):
    video = write_video(tmp_path / "kitchen.webm", seconds=4.0)
    response = video_client.post("/api/predict", files={"file": ("kitchen.webm", video.read_bytes())},
                                 data={"query": QUERIES})
    assert response.status_code == 200, response.text
    rows = response.json()["predictions"]
    expected = ground_video(Grounder(video_checkpoint), video, QUERIES)
    assert [(r["qid"], r["vid"], r["query"], r["pred_relevant_windows"]) for r in rows] == \
           [(r["qid"], r["vid"], r["query"], r["pred_relevant_windows"]) for r in expected]


def test_player_file_with_ranges_and_thumbnails(video_client, tmp_path):
    video = write_video(tmp_path / "clip.webm", seconds=3.0)
    entry = upload(video_client, video).json()["video"]
    whole = video_client.get(f"/api/videos/{entry['id']}/file")
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/webm"
    assert whole.content == video.read_bytes()
    part = video_client.get(f"/api/videos/{entry['id']}/file", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == video.read_bytes()[:100]
    thumb = video_client.get(f"/api/videos/{entry['id']}/thumbnail", params={"t": 1.5})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    from PIL import Image

    assert Image.open(io.BytesIO(thumb.content)).size[1] == 90
    assert video_client.get(f"/api/videos/{entry['id']}/thumbnail", params={"t": "nan"}).status_code == 400
    not_a_number = video_client.get(f"/api/videos/{entry['id']}/thumbnail", params={"t": "soon"})
    assert not_a_number.status_code == 400 and not_a_number.json()["error"].startswith("t: ")
    not_a_video = video_client.get(f"/api/videos/{video_id(video_client, 'notes')}/thumbnail", params={"t": 1})
    assert not_a_video.status_code == 400
    assert not_a_video.json()["error"].startswith("notes: cannot read frames")  # its name, not the server's path


def test_a_query_the_model_cannot_read_keeps_no_upload(video_client, tmp_path):
    video = write_video(tmp_path / "clip.webm", seconds=2.0)
    response = video_client.post("/api/predict", files={"file": ("clip.webm", video.read_bytes())},
                                 data={"query": ["zzz qqq"]})
    assert response.status_code == 400 and "none of its words is in the model's vocabulary" in response.json()["error"]
    assert list(video_client.app.state.serve.library.upload_dir.iterdir()) == []


def test_size_limit_stops_the_upload(make_client, video_checkpoint, tmp_path):
    client = make_client(checkpoint=video_checkpoint, features=None, max_upload_mb=0.001)
    video = write_video(tmp_path / "big.webm", seconds=6.0, size=96)
    assert video.stat().st_size > 1024
    response = upload(client, video)
    assert response.status_code == 413
    size = video.stat().st_size / 2**20
    assert response.json()["error"] == ("the video is too large: this server takes uploads up to 0.001 MiB "
                                        f"(drn serve --max-upload-mb), got {size:.3g} MiB")
    assert list(client.app.state.serve.library.upload_dir.iterdir()) == []


def test_size_limit_holds_without_a_content_length(make_client, video_checkpoint):
    client = make_client(checkpoint=video_checkpoint, features=None, max_upload_mb=0.05)
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.webm\"\r\n"
            f"Content-Type: video/webm\r\n\r\n").encode()

    def chunks():  # a chunked body (no Content-Length) that never ends by itself
        yield head
        for _ in range(200):
            yield b"\0" * 4096

    response = client.post("/api/uploads", content=chunks(),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413 and "too large" in response.json()["error"]


def test_duration_limit(make_client, video_checkpoint, tmp_path):
    client = make_client(checkpoint=video_checkpoint, features=None, max_duration=2.0)
    response = upload(client, write_video(tmp_path / "long.webm", seconds=4.0))
    assert response.status_code == 413
    assert response.json()["error"] == ("long: the video is 4.0 s long; this server takes videos up to 2 s "
                                        "(drn serve --max-duration)")


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("name, content, message", [
    ("movie.mp4", b"just some text, not a video", "movie: not a video file that can be read"),
    ("photo.mp4", png_bytes(), "photo: expected a video (mp4, webm, mkv, mov, avi, mpeg), got a png_pipe file"),
    ("empty.webm", b"", "empty: the file is empty"),
])
def test_only_videos_are_accepted_and_the_server_goes_on(video_client, tmp_path, name, content, message):
    response = video_client.post("/api/uploads", files={"file": (name, content, "video/mp4")})
    assert response.status_code in (400, 415)
    assert response.json()["error"].startswith(message)
    assert list(video_client.app.state.serve.library.upload_dir.iterdir()) == []
    good = upload(video_client, write_video(tmp_path / "ok.webm", seconds=2.0))
    assert good.status_code == 202


def test_a_broken_video_fails_its_job_with_a_message(video_client, tmp_path):
    video = write_video(tmp_path / "cut.webm", seconds=6.0, size=96)
    broken = tmp_path / "cut_short.webm"
    broken.write_bytes(video.read_bytes()[: video.stat().st_size // 3])  # header intact, most frames gone
    response = upload(video_client, broken)
    assert response.status_code == 202  # its header is fine: the probe passes, decoding finds the cut
    job = wait_for(video_client, response.json()["job"])
    assert job["state"] == "error" and job["message"].startswith("video cut_short: decoded only")
    assert "drn-serve-uploads" not in job["message"]  # the server's own paths stay private
    predict = video_client.post("/api/predict", json={"video": response.json()["video"]["id"], "queries": QUERIES})
    assert predict.status_code == 400 and predict.json()["error"] == job["message"]
    assert video_client.get("/api/info").status_code == 200


def test_listed_videos_extract_and_a_mislabelled_file_gets_a_message(video_client, videos_dir):
    names = {v["name"]: v for v in video_client.get("/api/videos").json()["videos"]}
    assert set(names) == {"clip", "notes"} and all(v["kind"] == "video" for v in names.values())
    assert names["clip"]["duration"] == pytest.approx(3.0, abs=0.2) and names["notes"]["duration"] is None
    uploaded = upload(video_client, videos_dir / "clip.webm").json()["video"]  # one naming rule for both
    assert uploaded["name"] == "clip" and uploaded["duration"] == pytest.approx(names["clip"]["duration"])
    job = wait_for(video_client, video_client.post("/api/jobs", json={"video": names["clip"]["id"]}).json())
    assert job["state"] == "done"
    bad = wait_for(video_client, video_client.post("/api/jobs", json={"video": video_id(video_client, "notes")}).json())
    assert bad["state"] == "error" and "notes" in bad["message"] and "\n" not in bad["message"]


@pytest.mark.slow
def test_users_uploading_at_once_each_get_their_own_video_grounded(video_client, video_checkpoint, tmp_path):
    import threading

    videos = [write_video(tmp_path / f"user{i}.webm", seconds=3.0 + i, size=64 + 16 * i) for i in range(4)]
    grounder = Grounder(video_checkpoint)
    expected = {v.stem: [r["pred_relevant_windows"] for r in ground_video(grounder, v, QUERIES)] for v in videos}
    got, errors = {}, []

    def user(video):
        try:
            response = video_client.post("/api/predict", files={"file": (video.name, video.read_bytes())},
                                         data={"query": QUERIES})
            rows = response.json()["predictions"]
            got[video.stem] = ({r["vid"] for r in rows}, [r["pred_relevant_windows"] for r in rows])
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(video,)) for video in videos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert got == {stem: ({stem}, windows) for stem, windows in expected.items()}
    assert len(video_client.app.state.serve.features.cache) == 4  # each video extracted once
