"""What the routes of `drn serve` share: the settings, the loaded model (its runner and the source of
features), the served videos, the extraction jobs, the thumbnails and the private upload folder."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from starlette.datastructures import UploadFile

from drn.inference.grounder import Grounder
from drn.serve.features import FeatureSource, file_sha256
from drn.serve.jobs import Job, JobQueue
from drn.serve.library import Entry, Library, display_name
from drn.serve.runner import ModelRunner, ReadyVideo
from drn.serve.settings import ServeSettings
from drn.serve.thumbnails import Thumbnails
from drn.serve.uploads import UploadError, check_duration, probe_container, save_stream

logger = logging.getLogger(__name__)


class ServeState:
    """Loads the checkpoint and opens the served folders; `close()` stops the workers and deletes
    the uploads."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        grounder = Grounder(settings.checkpoint, settings.overrides, settings.device)
        self.features = FeatureSource(grounder, file_sha256(Path(settings.checkpoint)), settings.cache_size)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="drn-serve-uploads-"))
        try:
            self.library = Library(settings.videos, settings.features, self.upload_dir, settings.keep_uploads)
            if self.library.features_settings is not None:
                self.features.check_features_folder(self.library.features_root, self.library.features_settings)
        except BaseException:  # not kept: a refused start (or Ctrl-C) leaves no folder behind
            shutil.rmtree(self.upload_dir, ignore_errors=True)
            raise
        self.jobs = JobQueue(settings.max_pending_jobs)
        self.thumbnails = Thumbnails()
        self.runner = ModelRunner(grounder, settings)
        words = list(grounder.vocab.word2id)
        self.example_words = [w for w in words if w.isalpha()][:40]

    def close(self) -> None:
        self.runner.close()
        self.jobs.shutdown()
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    def entry(self, entry_id: object) -> Entry:
        """The listed or uploaded video `entry_id` names; 404 otherwise."""
        entry = self.library.get(entry_id)
        if entry is None:
            shown = str(entry_id)[:40] if isinstance(entry_id, str) else type(entry_id).__name__
            raise UploadError(f"no video with id {shown!r} (ids come from /api/videos or an upload; "
                              f"uploads expire after {self.settings.keep_uploads} newer ones)", status=404)
        return entry

    def start(self, entry: Entry) -> Job:
        """The job that makes `entry`'s features ready (already done when they are)."""
        if entry.kind == "features":
            return self.jobs.done(entry.id, ("features", entry.id))
        features = self.features
        features.require_extractor()
        key = features.cache_key(features.content_hash(entry.video))
        if features.cache.get(key) is not None:
            return self.jobs.done(entry.id, key)
        return self.jobs.submit(entry.id, key,
                                lambda report: features.extract(entry.video, key, report, shown=entry.name))

    def ready_video(self, entry: Entry) -> ReadyVideo:
        """`entry` ready for the model (blocks while its extraction runs)."""
        if entry.kind == "features":
            return ReadyVideo(self.features.features_key(entry), entry.name, float(entry.duration),
                              lambda: self.features.load(entry).features)
        job = self.start(entry)
        if job.future is not None:
            video = job.future.result()
        else:  # cached: returns at once
            video = self.features.extract(entry.video, job.key, lambda _: None, shown=entry.name)
        return ReadyVideo(job.key, entry.name, video.duration, lambda: video.features)

    def store_upload(self, upload: UploadFile) -> Entry:
        """Save an upload in the private folder, accept it only as a video within the limits, list it."""
        name = display_name(Path(upload.filename or "upload").name)
        upload_id = "u" + uuid.uuid4().hex
        part = self.upload_dir / f"{upload_id}.part"
        try:
            content_hash, size = save_stream(upload.file, part, self.settings.max_upload_bytes)
            if size == 0:
                raise UploadError(f"{name}: the file is empty")
            probed = probe_container(part, name)
            check_duration(probed, self.settings.max_duration, name)
            stored = self.upload_dir / f"{upload_id}.{probed.suffix}"
            os.replace(part, stored)
        finally:
            part.unlink(missing_ok=True)
        self.features.remember_hash(stored, content_hash)
        entry = Entry(upload_id, name, "upload", video=stored, duration=probed.duration)
        self.library.add_upload(entry)
        return entry
