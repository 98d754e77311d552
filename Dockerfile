# wyoming-truebar: Wyoming speech-to-text server streaming to Truebar.
# Every dependency ships wheels for linux/amd64 and linux/arm64 (Raspberry Pi 4/5): nothing is
# compiled; requirements.lock pins them (tests/test_release.py checks the arm64 wheels).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRUEBAR_URI=tcp://0.0.0.0:10300

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY wyoming_truebar ./wyoming_truebar
RUN pip install --no-cache-dir --disable-pip-version-check -c requirements.lock . \
    && useradd --system --uid 10300 --no-create-home --shell /usr/sbin/nologin truebar

# Secrets come from the environment (TRUEBAR_PASSWORD) or a mounted file
# (TRUEBAR_PASSWORD_FILE=/run/secrets/...), never from the command line.
USER 10300
EXPOSE 10300
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["wyoming-truebar-health"]
# Exec form: the server is PID 1 and receives SIGTERM (graceful shutdown).
ENTRYPOINT ["wyoming-truebar"]
