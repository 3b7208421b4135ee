//! Report renderers over one summary model: terminal table, Markdown, JSON
