"""Jobs: the runner, what a job may do (context), the job clock, and the job kinds."""
