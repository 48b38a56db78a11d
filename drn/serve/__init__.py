"""`drn serve`: a web page and a JSON API that ground sentences in a video with a trained DRN.

`create_app(settings)` builds the FastAPI application; `ServeSettings` holds what the command line
chose (checkpoint, served folders, limits). Everything the page needs is served from
`drn/serve/static/` (no CDN, no network).
"""

from drn.serve.app import create_app
from drn.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
