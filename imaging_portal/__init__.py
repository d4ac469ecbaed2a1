"""Imaging Portal: Django project package (settings, URLs, Celery app, WSGI/ASGI)."""

from imaging_portal.celery import app as celery_app

__all__ = ("celery_app",)
