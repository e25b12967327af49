from typing import Any

class OTPMiddleware:
    def __init__(self, get_response: Any) -> None: ...
