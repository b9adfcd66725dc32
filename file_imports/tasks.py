"""Celery tasks of the imports: thin, they take ids and call a service."""

from celery import shared_task


# A large file's confirm writes up to IMPORT_MAX_ROWS rows with their history: 100,000 contract
# lines took 51 s (README, Performance); the default limits (240 s) leave too little on a busy
# worker. A time limit reached undoes the import (its transaction) and the job says so.
@shared_task(acks_late=True, soft_time_limit=900, time_limit=960)
def import_job_run_task(job_id: int) -> None:
    from file_imports.jobs import import_job_run

    import_job_run(job_id=job_id)
