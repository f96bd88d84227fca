"""Work items and jobs: running an authorized item, resuming a job, announcing its end."""
