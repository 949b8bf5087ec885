"""The event-linking loss of the tagger's fine-tuning: window targets, collation and the head's loss."""

from __future__ import annotations

import math

import pytest
import torch

from frontlines.inference.labels import STATUSES
from frontlines.inference.spans import Event, Example, Span
from frontlines.training.link_loss import LinkCollator, LinkHead, collate_links, window_links

TEXT = "Daesh retook Albu Kamal."
DAESH, RETOOK, ALBU = Span(0, 5, "ACTOR"), Span(6, 12, "CONTROL_CHANGE"), Span(13, 23, "LOCATION")
EXAMPLE = Example("a", TEXT, [DAESH, RETOOK, ALBU],
                  events=[Event(trigger=RETOOK, status="claimed", taker=DAESH, places=(ALBU,))])
# [CLS] dae ##sh retook albu kamal . [SEP]
OFFSETS = [(0, 0), (0, 3), (3, 5), (6, 12), (13, 17), (18, 23), (23, 24), (0, 0)]
SEQ = [None, 0, 0, 0, 0, 0, 0, None]


def test_window_links_give_token_ranges_labels_and_roles():
    links = window_links(EXAMPLE, OFFSETS, SEQ)
    # [t_lo, t_hi, c_lo, c_hi, label (0 ACTOR, 1 LOCATION, 2 PERCENT), role (1 taker, 3 place)]
    assert links["link_pairs"] == [[3, 4, 1, 3, 0, 1], [3, 4, 4, 6, 1, 3]]
    assert links["link_triggers"] == [[3, 4, STATUSES.index("claimed")]]


def test_status_only_links_keep_the_triggers_and_drop_the_pairs():
    # train.link_loss_roles: false
    assert window_links(EXAMPLE, OFFSETS, SEQ, roles=False) == {
        "link_pairs": [], "link_triggers": [[3, 4, STATUSES.index("claimed")]]}


def test_status_only_head_loss_is_the_status_term_alone():
    head = LinkHead(hidden_size=4, inner=8)
    torch.nn.init.zeros_(head.status[-1].weight)
    torch.nn.init.zeros_(head.status[-1].bias)
    loss = head(torch.randn(1, 8, 4), torch.zeros(0, 7, dtype=torch.long), torch.tensor([[0, 3, 4, 0]]))
    assert loss.item() == pytest.approx(math.log(5), rel=1e-6)  # uniform over the 5 statuses


def test_a_window_that_cuts_a_span_leaves_it_out():
    # the window starts at "kamal": Albu Kamal is cut, the trigger and Daesh are outside it
    assert window_links(EXAMPLE, [(0, 0), (18, 23), (23, 24), (0, 0)], [None, 0, 0, None]) == {
        "link_pairs": [], "link_triggers": []}
    # a window without the place keeps the trigger and the party
    links = window_links(EXAMPLE, OFFSETS[:4] + [(0, 0)], SEQ[:4] + [None])
    assert links["link_pairs"] == [[3, 4, 1, 3, 0, 1]]


def test_articles_without_event_links_give_no_targets():
    bare = Example("b", TEXT, [DAESH, RETOOK, ALBU], events=None)
    assert window_links(bare, OFFSETS, SEQ) == {"link_pairs": [], "link_triggers": []}


def test_collation_prefixes_each_row_with_its_window():
    features = [{"link_pairs": [[3, 4, 1, 3, 0, 1]], "link_triggers": [[3, 4, 0]]},
                {"link_pairs": [], "link_triggers": [[1, 2, 4]]}]
    out = collate_links(features)
    assert out["link_pairs"].tolist() == [[0, 3, 4, 1, 3, 0, 1]]
    assert out["link_triggers"].tolist() == [[0, 3, 4, 0], [1, 1, 2, 4]]
    empty = collate_links([{"link_pairs": [], "link_triggers": []}])
    assert empty["link_pairs"].shape == (0, 7) and empty["link_triggers"].shape == (0, 4)


def test_the_collator_pads_the_model_inputs_and_keeps_the_caller_features(tokenizer):
    from transformers import DataCollatorForTokenClassification

    features = [{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1], "labels": [-100, 1, -100],
                 "link_pairs": [[1, 2, 1, 2, 1, 3]], "link_triggers": [[1, 2, 0]]},
                {"input_ids": [101, 102], "attention_mask": [1, 1], "labels": [-100, -100],
                 "link_pairs": [], "link_triggers": []}]
    batch = LinkCollator(DataCollatorForTokenClassification(tokenizer))(features)
    assert batch["input_ids"].shape == (2, 3) and batch["labels"][1].tolist() == [-100, -100, -100]
    assert batch["link_pairs"].tolist() == [[0, 1, 2, 1, 2, 1, 3]]
    assert "link_pairs" in features[0]  # the dataset's rows are not consumed


def test_head_loss_is_the_uniform_value_with_zero_output_layers():
    torch.manual_seed(0)
    head = LinkHead(hidden_size=4, inner=8)
    for mlp in (head.role, head.status):
        torch.nn.init.zeros_(mlp[-1].weight)
        torch.nn.init.zeros_(mlp[-1].bias)
    states = torch.randn(1, 8, 4, requires_grad=True)
    pairs = torch.tensor([[0, 3, 4, 1, 3, 0, 1], [0, 3, 4, 4, 6, 1, 3]])
    triggers = torch.tensor([[0, 3, 4, 0]])
    loss = head(states, pairs, triggers)
    # all logits 0: status over 5 classes; an ACTOR over none/taker/loser, a LOCATION over none/place
    assert loss.item() == pytest.approx(math.log(5) + (math.log(3) + math.log(2)) / 2, rel=1e-6)


def test_head_gradient_reaches_only_the_linked_tokens():
    torch.manual_seed(0)
    head = LinkHead(hidden_size=4, inner=8)
    states = torch.randn(2, 8, 4, requires_grad=True)
    head(states, torch.tensor([[1, 3, 4, 4, 6, 1, 3]]), torch.tensor([[1, 3, 4, 2]])).backward()
    touched = (states.grad.abs().sum(-1) > 0).nonzero().tolist()
    assert touched == [[1, 3], [1, 4], [1, 5]]
    assert head(states, torch.zeros(0, 7, dtype=torch.long), torch.zeros(0, 4, dtype=torch.long)).item() == 0.0


def test_a_status_only_dataset_carries_statuses_and_no_pairs(tokenizer):
    from frontlines.training.data import build_dataset

    both = build_dataset(tokenizer, [EXAMPLE], 32, 8, links=True)
    status = build_dataset(tokenizer, [EXAMPLE], 32, 8, links=True, link_roles=False)
    assert both["link_pairs"][0] and status["link_pairs"] == [[]]
    assert status["link_triggers"] == both["link_triggers"] != [[]]
