"""The site stage: costed rows become window reports (report), chart series (charts), public data files
(export), HTML pages (render), and a folder written whole (write)."""
