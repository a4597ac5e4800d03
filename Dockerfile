FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

# Dependencies first so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY csms/__init__.py csms/__init__.py
COPY ocpp_gateway/__init__.py ocpp_gateway/__init__.py
COPY billing/__init__.py billing/__init__.py
COPY wallet/__init__.py wallet/__init__.py
RUN pip install --no-cache-dir .

COPY . .
RUN pip install --no-cache-dir --no-deps . \
    && DEBUG=true python manage.py collectstatic --noinput

# media/: invoice PDFs (Django's storage), a volume shared by web and worker in compose.
RUN useradd --system --uid 10001 csms && mkdir -p /app/media && chown csms /app/media
USER csms
EXPOSE 8000
# No --proxy-headers: daphne would believe X-Forwarded-For from anyone; csms.proxy trusts it
# only from TRUSTED_PROXIES.
CMD ["python", "-m", "daphne", "-b", "0.0.0.0", "-p", "8000", "--websocket_timeout", "-1", \
     "csms.asgi:application"]
