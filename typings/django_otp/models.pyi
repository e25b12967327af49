from typing import Any

from django.db import models

class Device(models.Model):
    class Meta:
        abstract = True
    user: models.ForeignKey[Any, Any]
    name: models.CharField[str, str]
    confirmed: models.BooleanField[bool, bool]
    @property
    def persistent_id(self) -> str: ...
    def verify_is_allowed(self) -> tuple[bool, dict[str, Any] | None]: ...
    def verify_token(self, token: Any) -> bool: ...

class ThrottlingMixin(models.Model):
    class Meta:
        abstract = True
    throttling_failure_timestamp: models.DateTimeField[Any, Any]
    throttling_failure_count: models.PositiveIntegerField[int, int]
    def throttle_reset(self, commit: bool = ...) -> None: ...
    def throttle_increment(self, commit: bool = ...) -> None: ...
    def get_throttle_factor(self) -> int: ...
    def verify_is_allowed(self) -> tuple[bool, dict[str, Any] | None]: ...

class TimestampMixin(models.Model):
    class Meta:
        abstract = True
    def set_last_used_timestamp(self, commit: bool = ...) -> None: ...
