"""A FastAPI app that queues Laravel jobs from async endpoints, and the async handler that runs them.

    uvicorn examples.fastapi_app:app                                   # the web app
    laravel-queue queue:work redis --in-flight 100 --jobs examples.fastapi_app   # the worker

`POST /articles/{id}/summarize` queues `App\\Jobs\\SummarizeArticle` exactly as Laravel's
`SummarizeArticle::dispatch($id)->onQueue('ai')` would (a PHP worker could run it too).
`await dispatch(...)` never blocks the event loop. The Python handler is `async def`:
with `--in-flight 100` one worker process keeps up to 100 of these I/O-bound jobs running
at once (the sleep stands in for an HTTP call to a model API).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from laravel_queue import handles
from laravel_queue.aio import dispatch
from laravel_queue.dispatch import Command

SUMMARIZE = "App\\Jobs\\SummarizeArticle"

app = FastAPI(title="laravel-queue async example")


@app.post("/articles/{article_id}/summarize", status_code=202)
async def summarize(article_id: int) -> dict[str, Any]:
    job_id = await dispatch(Command(SUMMARIZE, {"articleId": article_id}), queue="ai")
    return {"queued": job_id}


@handles(SUMMARIZE, tries=3, backoff=[5, 30], timeout=120)
async def summarize_article(job: Any, command: Any) -> None:
    """Runs on the worker's event loop; past `timeout` it is cancelled (CancelledError here)."""
    await asyncio.sleep(0.05)  # e.g. `await client.post(...)` with httpx.AsyncClient
    print(f"summarized article #{command.articleId} (attempt {job.attempts()})", flush=True)
