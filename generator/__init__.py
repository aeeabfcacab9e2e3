"""bedrock-usage-site: a static site of Amazon Bedrock spend per person and per model."""

__version__ = "0.1.0"
