"""gunicorn settings, read from the working directory by `gunicorn imaging_portal.wsgi`.

The access log names the path without its query string: search criteria such as a patient ID
travel in query strings, and logs must not hold patient data.
"""

accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# A page spends most of its time waiting for HealthImaging: threads let each worker process
# serve other requests meanwhile, where a sync worker would sit idle. With 50 users (S15,
# tests/reliability/test_load.py) sync workers served half the requests at 10x the latency.
worker_class = "gthread"
threads = 4
