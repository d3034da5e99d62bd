"""Operations: the local Prefect stack (server, deployment process, feed server) and the demo.

``deployments`` lists what gets deployed, ``supervisor`` starts and stops the local processes,
``processes`` finds them again, ``demo`` runs the whole chain end to end.
"""
