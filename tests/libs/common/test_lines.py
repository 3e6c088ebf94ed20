from automl_common.lines import LineSplitter


def test_lines_split_across_chunks_come_out_whole() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}\n\n{") == [b'{"b":2}']
    assert splitter.feed(b'"c":3}') == []
    assert splitter.feed(b"\n") == [b'{"c":3}']
    assert splitter.rest == b""
