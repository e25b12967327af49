from typing import Any

from django.http import HttpRequest

from django_otp.models import Device

DEVICE_ID_SESSION_KEY: str

def login(request: HttpRequest, device: Device) -> None: ...
def user_has_device(user: Any, confirmed: bool | None = ...) -> bool: ...
