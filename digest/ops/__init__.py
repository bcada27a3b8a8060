"""Running the service: the scheduled cycle, job runs, health, status, rates and the demo. The top
of the use cases: may import sending, ingest, issues and subscribers."""
