"""Small ASGI apps served by uvicorn in subprocesses during the benchmarks."""
