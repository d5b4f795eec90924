-- The tool calls a streamed response made, as the edge saw them: names only (never arguments),
-- comma-separated in order, and their count.
ALTER TABLE requests ADD COLUMN tool_calls TEXT;
ALTER TABLE requests ADD COLUMN tool_call_count INTEGER;
