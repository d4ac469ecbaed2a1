"""gunicorn settings, read from the working directory by `gunicorn imaging_portal.wsgi`.

The access log names the path without its query string: search criteria such as a patient ID
travel in query strings, and logs must not hold patient data.
"""

accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
