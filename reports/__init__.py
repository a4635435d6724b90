"""Reports: per-unit and provincial aggregation and renderers over the store (issues 6, 10).

collect      reads the store for a selection (--sweep / --week, --unit), in aggregates
aggregate    computes the figures (counting, rounding and cleaning rules) -> model.Report
connections  live connections, hosts-file entries and cached names, each counted once
explain      failing findings titled and explained in the report's language
settings     the letter's own settings (issuer, ký hiệu, signer, recipients…), dated
document     lays a Report out in one language: prose from templates, tables, labels
chart        the charts, drawn once: SVG, PNG of the same SVG, native XLSX charts
evidence     the evidence annex: every finding's evidence as readable key/value lines
formats/     writes a laid-out report as html, pdf, docx, xlsx, csv, md or json
command      `raquet report`, registered by raquet.cli
"""
