from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "trm.directory"
    label = "directory"
    verbose_name = "Service directory"
