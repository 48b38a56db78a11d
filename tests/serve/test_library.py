"""What the served folders list: videos under --videos (never through a link out of it), and
--features videos, playable when extract.json's source is one of the served files."""

from __future__ import annotations

import json

from drn.serve.library import scan_features, scan_videos
from tests.helpers.checkpoints import features_folder
from tests.serve.videos import write_video


def test_links_out_of_the_folder_are_not_listed(tmp_path):
    outside = write_video(tmp_path / "private.webm", seconds=1.0)
    served = tmp_path / "served"
    (served / "sub").mkdir(parents=True)
    write_video(served / "sub" / "ok.webm", seconds=1.0)
    (served / "link.webm").symlink_to(outside)
    (served / "notes.txt").write_text("x")
    (served / ".hidden.mp4").write_text("x")
    names = sorted(entry.name for entry in scan_videos(served).values())
    assert names == ["sub/ok"]


def test_features_sources_map_to_served_videos(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    clip = write_video(videos / "clip.webm", seconds=2.0)
    folder = features_folder(tmp_path / "features", {"clip": 2.0, "gone": 3.0, "secret": 1.0}, feature_dim=8)
    index = json.loads((folder / "extract.json").read_text())
    index["videos"]["clip"]["source"] = "../somewhere/videos/clip.webm"  # relative to where drn extract ran
    index["videos"]["gone"]["source"] = "videos/gone.webm"
    index["videos"]["secret"]["source"] = "/etc/passwd"
    (folder / "extract.json").write_text(json.dumps(index))
    entries = {e.name: e for e in scan_features(folder, [clip.resolve()]).values()}
    assert entries["clip"].video == clip.resolve()
    assert entries["gone"].video is None and entries["secret"].video is None
    assert {e.kind for e in entries.values()} == {"features"}
    assert entries["gone"].duration == 3.0


def test_unsafe_feature_names_are_skipped(tmp_path):
    folder = features_folder(tmp_path / "features", {"ok": 2.0}, feature_dim=8)
    index = json.loads((folder / "extract.json").read_text())
    index["videos"]["../../etc/passwd"] = {"duration": 1.0, "num_clips": 1, "source": "x"}
    (folder / "extract.json").write_text(json.dumps(index))
    assert [e.name for e in scan_features(folder, []).values()] == ["ok"]
