"""The ``panning label`` web page: a Starlette app over a labeling session.

Optional extra ``panning[ui]`` (Starlette + uvicorn). The page is plain HTML/CSS/JS under
``ui/static`` and talks to a JSON API that other tools can call too:

======================================  ==========================================================
``GET  /api/status``                    labels, positives, pool scored, rounds, estimate, curve,
                                        top predictions, search modes
``POST /api/search {"text", "limit"}``  keyword (and semantic) search; ``{"like": id, "limit"}``:
                                        the items nearest to an item
``GET  /api/batch?size=N``              the next N items to label (N >= 1)
``POST /api/labels {"labels": [...]}``  ``[{"id": int, "label": int|str}, ...]``, all or nothing
``GET  /api/export?format=csv|jsonl``   the labeled set with item fields
``GET  /api/image/{id}``                the item's image when ``image`` is a local file
======================================  ==========================================================

Bad requests (malformed JSON, unknown ids, bad labels, a batch size <= 0) get a 4xx answer
``{"error": "..."}`` and change nothing.
"""

from __future__ import annotations

from .server import SessionWorker, create_app, serve

__all__ = ["SessionWorker", "create_app", "serve"]
