"""The fixed code lists public mutual-aid entries draw from, each code with its zh/en label.

Free text on a public entry could carry a health claim about a person ("… has HIV"), so the
public fields of cases are codes from these lists (or registered hospital codes, see
`hospitals.py`); anything a person types is sealed off the log (`heartchain.privacy`) with a
salted commitment on it. Codes are only ever added: entries already on the log must still parse
when `verify` replays them.

Conditions follow the critical-illness definitions of the Insurance Association of China (2020,
《重大疾病保险的疾病定义使用规范》); a plan covers a subset (`plan.create` rules.conditions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

# A name an organisation signs for (a plan, a hospital): letters and digits of any script,
# spaces and a little punctuation; no line breaks, no markup.
PUBLIC_NAME = re.compile(r"(?!\s)[\w ·()（）'.,&:-]+(?<!\s)")
PublicName = Annotated[str, msgspec.Meta(min_length=1, max_length=100,
                                         pattern=rf"\A(?:{PUBLIC_NAME.pattern})\Z")]


@dataclass(frozen=True)
class Label:
    code: str
    zh: str
    en: str

    def text(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


def _table(*rows: tuple[str, str, str]) -> dict[str, Label]:
    return {code: Label(code, zh, en) for code, zh, en in rows}


CONDITIONS = _table(
    ("cancer", "恶性肿瘤", "Malignant tumour (cancer)"),
    ("leukemia", "白血病", "Leukaemia"),
    ("heart-attack", "急性心肌梗死", "Acute myocardial infarction"),
    ("stroke", "脑卒中后遗症", "Stroke with lasting effects"),
    ("kidney-failure", "终末期肾病", "End-stage renal disease"),
    ("organ-transplant", "重大器官移植术或造血干细胞移植术",
     "Major organ or haematopoietic stem cell transplant"),
    ("coronary-bypass", "冠状动脉搭桥术", "Coronary artery bypass surgery"),
    ("liver-failure", "严重慢性肝衰竭", "Severe chronic liver failure"),
    ("encephalitis-sequelae", "严重脑炎或脑膜炎后遗症",
     "Severe after-effects of encephalitis or meningitis"),
    ("benign-brain-tumour", "严重良性脑肿瘤", "Severe benign brain tumour"),
    ("deep-coma", "深度昏迷", "Deep coma"),
    ("limb-loss", "双耳失聪、双目失明或多肢缺失", "Loss of hearing, sight or limbs"),
    ("paralysis", "瘫痪", "Paralysis"),
    ("heart-valve-surgery", "心脏瓣膜手术", "Heart valve surgery"),
    ("alzheimers", "严重阿尔茨海默病", "Severe Alzheimer's disease"),
    ("brain-injury", "严重脑损伤", "Severe brain injury"),
    ("parkinsons", "严重原发性帕金森病", "Severe Parkinson's disease"),
    ("severe-burns", "严重Ⅲ度烧伤", "Severe third-degree burns"),
    ("pulmonary-hypertension", "严重特发性肺动脉高压", "Severe idiopathic pulmonary hypertension"),
    ("motor-neurone-disease", "严重运动神经元病", "Severe motor neurone disease"),
    ("aortic-surgery", "主动脉手术", "Aortic surgery"),
    ("aplastic-anaemia", "重型再生障碍性贫血", "Severe aplastic anaemia"),
)

# Why the operator rejects a case (`case.decide` reason): published with the decision.
DECISION_REASONS = _table(
    ("not-covered", "不属本计划保障的病种", "Not a condition the plan covers"),
    ("pre-existing", "加入前已患病", "The condition predates joining"),
    ("not-evidenced", "诊断证据不足", "The diagnosis is not sufficiently evidenced"),
    ("outside-coverage", "确诊不在保障期内", "Diagnosed outside the coverage period"),
    ("objection-upheld", "异议经复核成立", "An objection was upheld on review"),
    ("duplicate", "重复申请", "A duplicate claim"),
    ("withdrawn", "申请人撤回", "Withdrawn by the claimant"),
    ("jury-rejected", "赔审团投票不予互助", "The member jury voted to reject"),
)

# Why a member objects to a case (`case.object` reason); details they type are sealed.
OBJECTION_REASONS = _table(
    ("pre-existing", "加入前已患病", "The condition predates joining"),
    ("not-diagnosed", "诊断不成立或证据不足", "Diagnosis not established or not evidenced"),
    ("not-covered", "不属本计划保障的病种", "Not a condition the plan covers"),
    ("amount", "申请金额不合理", "The amount asked is not justified"),
    ("identity", "身份存疑", "Doubt about who the patient is"),
    ("duplicate", "重复申请", "A duplicate claim"),
    ("other", "其他（详情已密封）", "Other (details sealed)"),
)

# The codes as body field types: msgspec refuses any other value ("'x' is not one of …").
# Built from the tables above, the one list of codes; mypy, which cannot read a computed
# Literal, sees str.
if TYPE_CHECKING:
    Condition = str
    DecisionReason = str
    ObjectionReason = str
else:
    Condition = Literal[tuple(CONDITIONS)]
    DecisionReason = Literal[tuple(DECISION_REASONS)]
    ObjectionReason = Literal[tuple(OBJECTION_REASONS)]
