FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY leadqual leadqual
COPY leads leads
COPY scoring scoring
COPY handoff handoff
RUN pip install --no-cache-dir .
COPY . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --no-input -v 0
RUN useradd --system leadqual && chown -R leadqual /app
USER leadqual
EXPOSE 8000
CMD ["gunicorn", "leadqual.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
