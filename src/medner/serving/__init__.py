"""The real-time extraction API (FastAPI on uvicorn): ``medner serve``. Needs ``medner[serve]``."""
