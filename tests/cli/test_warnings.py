"""Warnings a user needs: unknown query words, a --gt outside the video or reversed, rankings left
empty by the score threshold, and the quirk count of unknown words in a split."""

from __future__ import annotations

import json
import re
from pathlib import Path

from drn.data import Vocabulary, read_charades_sta, tokenize
from tests.helpers.cli import run_cli


def _predict(trained_run, tiny_data, *args):
    queries, _ = read_charades_sta(tiny_data["test"], tiny_data["durations"])
    query = queries[0]
    features = Path(tiny_data["features"]) / f"{query.vid}.npy"
    return query, run_cli("predict", str(trained_run / "checkpoints" / "best.pt"), "--features", str(features),
                          "--duration", str(query.duration), *args)


def test_predict_warns_about_unknown_words_and_odd_ground_truth(trained_run, tiny_data, tmp_path):
    query, result = _predict(trained_run, tiny_data, "--query", query_text := "a person zorbles the door",
                             "--query", "someone opens the door", "--gt", "7", "2", "--gt", "1", "999",
                             "--plot", str(tmp_path / "t.png"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"query {query_text!r}: 'zorbles' not in the model's vocabulary" in result.stderr
    assert "--gt 1: start 7 is after end 2; drawn swapped" in result.stderr
    assert f"--gt 2: [1, 999] reaches outside the video [0, {query.duration:g}] seconds" in result.stderr
    assert (tmp_path / "t.png").is_file()


def test_empty_rankings_are_explained(trained_run, tiny_data):
    # without DRN's whole-video fallback (on by default), such a query gets an empty list
    _, result = _predict(trained_run, tiny_data, "--query", "someone opens the door",
                         "--set", "model.score_threshold=1.0", "--set", "model.whole_video_fallback=false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["results"][0]["pred_relevant_windows"] == []
    assert "1 of 1 queries have no predicted segment" in result.stderr
    assert "model.score_threshold=1" in result.stderr


def test_a_split_counts_its_queries_with_unknown_words(trained_run, tiny_data, tmp_path):
    lines = Path(tiny_data["test"]).read_text().splitlines()
    head, sentence = lines[0].split("##")
    vocab = Vocabulary.load(trained_run / "vocab.json")
    assert all(word in vocab for word in tokenize(sentence))  # so only "zorbles" makes it count
    lines[0] = f"{head}##{sentence.rstrip('.')} zorbles."
    test = tmp_path / "test.txt"
    test.write_text("\n".join(lines) + "\n")
    result = run_cli("eval", str(trained_run / "checkpoints" / "best.pt"), "--out", str(tmp_path / "eval"),
                     "--set", f"data.test={test}")
    assert result.returncode == 0, result.stderr[-2000:]
    counted = re.search(r"(\d+) kept, with words outside the vocabulary \(read as the unknown word\) \(e\.g\. ([^)]*)\)",
                        result.stderr)
    assert counted and int(counted.group(1)) >= 1, result.stderr[-2000:]
    assert counted.group(2).split(", ")[0] == f"{head.split()[0]}#1"  # the query given an unknown word
