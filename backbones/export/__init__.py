"""Export of whole models to deployable graphs, and their verification."""
