"""Reports: per-unit and provincial aggregation and renderers over the store (issue 6).

collect    reads the store for a selection (--sweep / --week, --unit)
aggregate  computes the figures (counting, rounding and cleaning rules) -> model.Report
document   lays a Report out in one language: prose from templates, tables, labels
formats/   writes a laid-out report as html, pdf, docx, xlsx, csv, md or json
command    `raquet report`, registered by raquet.cli
"""
