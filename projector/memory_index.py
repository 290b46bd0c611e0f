"""An in-memory stand-in for one Elasticsearch index, for `verify`: the two requests the engine makes
(projector/documents.py DocumentClient), with Elasticsearch's answers and its concurrency rules -- `create` refuses
an existing document, `if_seq_no` a moved one, external versioning a version not above the stored one. Documents
are kept as JSON, as Elasticsearch keeps them. tests/contract/test_document_client.py runs the same requests on
both and compares the answers."""

from __future__ import annotations

from typing import Any

import orjson

from projector.projections import Document


class MemoryIndex:
    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.docs: dict[str, bytes] = {}
        self.seq_nos: dict[str, int] = {}
        self.versions: dict[str, int] = {}
        self.seq_no = -1

    async def mget(self, *, index: str, ids: list[str], **_: Any) -> dict[str, Any]:
        docs: list[dict[str, Any]] = []
        for doc_id in ids:
            if doc_id in self.docs:
                source = orjson.loads(self.docs[doc_id])
                docs.append(
                    {
                        "_index": self.name,
                        "_id": doc_id,
                        "_version": self.versions[doc_id],
                        "_seq_no": self.seq_nos[doc_id],
                        "_primary_term": 1,
                        "found": True,
                        "_source": source,
                    }
                )
            else:
                docs.append({"_index": self.name, "_id": doc_id, "found": False})
        return {"docs": docs}

    def _refused(self, kind: str, meta: dict[str, Any]) -> bool:
        doc_id = str(meta["_id"])
        if kind == "create":
            return doc_id in self.docs
        if meta.get("version_type") == "external":
            return doc_id in self.docs and int(meta["version"]) <= self.versions[doc_id]
        if "if_seq_no" in meta:
            return self.seq_nos.get(doc_id) != meta["if_seq_no"] or meta.get("if_primary_term") != 1
        return False

    async def bulk(self, *, operations: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for action, source in zip(operations[::2], operations[1::2], strict=True):
            kind, meta = next(iter(action.items()))
            doc_id = str(meta["_id"])
            if self._refused(kind, meta):
                items.append({kind: {"_index": self.name, "_id": doc_id, "status": 409}})
                continue
            created = doc_id not in self.docs
            version = (
                int(meta["version"]) if meta.get("version_type") == "external" else self.versions.get(doc_id, 0) + 1
            )
            self.seq_no += 1
            self.docs[doc_id], self.seq_nos[doc_id], self.versions[doc_id] = orjson.dumps(source), self.seq_no, version
            item = {"_index": self.name, "_id": doc_id, "_version": version, "_seq_no": self.seq_no}
            items.append({kind: {**item, "_primary_term": 1, "status": 201 if created else 200}})
        return {"errors": any(next(iter(i.values()))["status"] >= 300 for i in items), "items": items}

    def documents(self) -> dict[str, Document]:
        return {doc_id: orjson.loads(raw) for doc_id, raw in self.docs.items()}
