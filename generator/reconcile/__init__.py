"""The estimate checked against what AWS itself says: the bill (Cost Explorer or the CUR, `billing` and `cur`)
and Bedrock's own CloudWatch counts of the calls the logs should hold (`coverage`)."""
